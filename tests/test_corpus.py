"""The committed corpora are non-parallel by construction, and their held-out sets never leak.

Every line carries its origin ``UNIT#...`` (UNIT = help page or Bible book); units are split, never lines.
"""
import itertools
import json
import lzma

import pytest

from conftest import ROOT
from unmt.io import sha256_file

CORPORA = ("libreoffice-en-fr", "libreoffice-en-de", "libreoffice-en-zh", "libreoffice-5", "bible-en-es")


@pytest.fixture(params=CORPORA)
def corpus(request):
    d = ROOT / "corpora" / request.param
    return d, json.loads((d / "manifest.json").read_text())["languages"]


def read(corpus_dir, name):
    with lzma.open(corpus_dir / name, "rt", encoding="utf-8") as f:
        return f.read().splitlines()


def page(origin):
    return origin.split("#")[0]


def test_training_sides_never_translate_each_other(corpus):
    d, langs = corpus
    origins = {l: read(d, f"train.{l}.origin.xz") for l in langs}
    for l in langs:
        assert len(origins[l]) == len(read(d, f"train.{l}.xz")) > 1000
    for a, b in itertools.combinations(langs, 2):
        # a translation pair would share page + paragraph id; pages are disjoint, so no id can be shared
        assert not set(origins[a]) & set(origins[b])
        assert not {page(o) for o in origins[a]} & {page(o) for o in origins[b]}


def test_held_out_pages_and_lines_are_disjoint_from_training(corpus):
    d, langs = corpus
    train_pages = {page(o) for l in langs for o in read(d, f"train.{l}.origin.xz")}
    dev_pages = {page(o) for o in read(d, "dev.origin.xz")}
    test_pages = {page(o) for o in read(d, "test.origin.xz")}
    assert not (dev_pages | test_pages) & train_pages
    assert not dev_pages & test_pages
    train_text = {line for l in langs for line in read(d, f"train.{l}.xz")}
    for split in ("dev", "test"):
        held = {line for l in langs for line in read(d, f"{split}.{l}.xz")}
        assert not held & train_text, f"{split} lines leak into training"


def test_dev_and_test_are_aligned_and_large_enough(corpus):
    d, langs = corpus
    for split in ("dev", "test"):
        origin = read(d, f"{split}.origin.xz")
        assert all(len(read(d, f"{split}.{l}.xz")) == len(origin) >= 1000 for l in langs)
        assert len(set(origin)) == len(origin)


def test_page_assignment_matches_split_function(corpus):
    from data_prep.libreoffice import split_of

    d, langs = corpus
    if not d.name.startswith("libreoffice"):
        pytest.skip("Bibles are split by book (bible.assign_books)")
    rows = [l.split("\t") for l in read(d, "pages.tsv.xz")]
    assert len(rows) > 2000
    assert all(split_of(p, langs) == s for p, s in rows)
    assert {s for _, s in rows} == {f"train.{l}" for l in langs} | {"dev", "test"}


def test_every_unit_has_one_split(corpus):
    d, _ = corpus
    units = [l.split("\t")[0] for l in read(d, "pages.tsv.xz")]
    assert len(units) == len(set(units))


def test_manifest_hashes_and_dictionary_split(corpus):
    d, langs = corpus
    m = json.loads((d / "manifest.json").read_text())
    for name, digest in m["files"].items():
        assert sha256_file(d / name) == digest, name
    for pair, info in m["dictionaries"].items():
        assert info["available"], pair
        train = {l.split()[0] for l in (d / f"dict.{pair}.train.txt").read_text().splitlines()}
        test = {l.split()[0] for l in (d / f"dict.{pair}.test.txt").read_text().splitlines()}
        assert test and train and not train & test  # test words are never seeds
        assert 0 < info["coverage"] <= 1


def test_chinese_dictionary_words_are_segmented_words_of_the_corpus():
    """The en-zh test words are jieba words that occur in the Chinese training side (not clauses)."""
    from unmt.segment import words

    d = ROOT / "corpora/libreoffice-en-zh"
    vocab = {w for line in read(d, "train.zh.xz") for w in words(line, "zh")}
    pairs = [l.split() for l in (d / "dict.en-zh.test.txt").read_text(encoding="utf-8").splitlines()]
    assert len(pairs) > 500
    assert all(zh in vocab and len(zh) <= 6 for _, zh in pairs)


def test_the_ceilings_parallel_text_comes_from_training_pages_only(corpus):
    d, langs = corpus
    held_pages = {page(o) for split in ("dev", "test") for o in read(d, f"{split}.origin.xz")}
    held_text = {line for split in ("dev", "test") for l in langs for line in read(d, f"{split}.{l}.xz")}
    pairs = json.loads((d / "manifest.json").read_text()).get("pairs", [])
    if not (d / f"parallel.{pairs[0]}.origin.xz").exists():
        pytest.skip("this corpus has no parallel view (only LibreOffice corpora do)")
    for pair in pairs:
        a, b = pair.split("-")
        origins = read(d, f"parallel.{pair}.origin.xz")
        sides = [read(d, f"parallel.{pair}.{x}.xz") for x in (a, b)]
        assert len(origins) == len(sides[0]) == len(sides[1]) > 1000
        split = dict(line.split("\t") for line in read(d, "pages.tsv.xz"))
        train_pages = {p for p, where in split.items() if where in (f"train.{a}", f"train.{b}")}
        assert {page(o) for o in origins} <= train_pages and not {page(o) for o in origins} & held_pages
        assert not (set(sides[0]) | set(sides[1])) & held_text

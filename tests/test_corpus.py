"""The committed corpora are non-parallel by construction, and their held-out sets never leak.

Every line carries its origin ``UNIT#...`` (UNIT = help page or Bible book); units are split, never lines.
"""
import json
import lzma

import pytest

from conftest import ROOT
from unmt.io import sha256_file

CORPORA = {"libreoffice-en-fr": ("en", "fr"), "bible-en-es": ("en", "es")}


@pytest.fixture(params=sorted(CORPORA))
def corpus(request):
    return ROOT / "corpora" / request.param, CORPORA[request.param]


def read(corpus_dir, name):
    with lzma.open(corpus_dir / name, "rt", encoding="utf-8") as f:
        return f.read().splitlines()


def page(origin):
    return origin.split("#")[0]


def test_training_sides_never_translate_each_other(corpus):
    d, (a, b) = corpus
    lines = lambda name: read(d, name.replace(".en", f".{a}").replace(".fr", f".{b}"))  # noqa: E731
    en, fr = lines("train.en.origin.xz"), lines("train.fr.origin.xz")
    assert len(en) == len(lines("train.en.xz")) and len(fr) == len(lines("train.fr.xz"))
    # a translation pair would share page + paragraph id; pages are disjoint, so no id can be shared
    assert not set(en) & set(fr)
    assert not {page(o) for o in en} & {page(o) for o in fr}


def test_held_out_pages_and_lines_are_disjoint_from_training(corpus):
    d, (a, b) = corpus
    lines = lambda name: read(d, name.replace(".en", f".{a}").replace(".fr", f".{b}"))  # noqa: E731
    train_pages = {page(o) for o in lines("train.en.origin.xz") + lines("train.fr.origin.xz")}
    dev_pages = {page(o) for o in lines("dev.origin.xz")}
    test_pages = {page(o) for o in lines("test.origin.xz")}
    assert not (dev_pages | test_pages) & train_pages
    assert not dev_pages & test_pages
    train_text = set(lines("train.en.xz")) | set(lines("train.fr.xz"))
    for split in ("dev", "test"):
        held = set(lines(f"{split}.en.xz")) | set(lines(f"{split}.fr.xz"))
        assert not held & train_text, f"{split} lines leak into training"


def test_dev_and_test_are_aligned_and_large_enough(corpus):
    d, (a, b) = corpus
    lines = lambda name: read(d, name.replace(".en", f".{a}").replace(".fr", f".{b}"))  # noqa: E731
    for split in ("dev", "test"):
        en, fr, origin = lines(f"{split}.en.xz"), lines(f"{split}.fr.xz"), lines(f"{split}.origin.xz")
        assert len(en) == len(fr) == len(origin) >= 1000
        assert len(set(origin)) == len(origin)


def test_page_assignment_matches_split_function():
    from data_prep.libreoffice import split_of

    rows = [l.split("\t") for l in read(ROOT / "corpora/libreoffice-en-fr", "pages.tsv.xz")]
    assert len(rows) > 2000
    assert all(split_of(p) == s for p, s in rows)


def test_every_unit_has_one_split(corpus):
    d, _ = corpus
    units = [l.split("\t")[0] for l in read(d, "pages.tsv.xz")]
    assert len(units) == len(set(units))


def test_manifest_hashes_and_dictionary_split(corpus):
    d, (a, b) = corpus
    m = json.loads((d / "manifest.json").read_text())
    for name, digest in m["files"].items():
        assert sha256_file(d / name) == digest, name
    train = {l.split()[0] for l in (d / f"dict.{a}-{b}.train.txt").read_text().splitlines()}
    test = {l.split()[0] for l in (d / f"dict.{a}-{b}.test.txt").read_text().splitlines()}
    assert test and train and not train & test  # test words are never seeds
    assert 0 < m["dictionary"]["coverage"] <= 1

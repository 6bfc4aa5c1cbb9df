"""Pairs no committed corpus or recipe has, built from the Debian packages and run by config alone:
English-Italian, and English-Japanese (written without spaces: MeCab words, sacrebleu's ja-mecab BLEU).

The builder fetches libreoffice-help-{en-us,it,ja} and FreeDict eng-ita/ita-eng, eng-jpn/jpn-eng with
``apt-get download`` into the package cache (``$UNMT_DEBIAN_CACHE``, default ~/.cache/unmt/debian) the first
time (about 25 MB); later runs read the cache. Nothing in unmt/ or recipes/ names Italian, and Japanese only
in the tables of scripts and segmenters (unmt/segment.py).
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, unmt
# the committed corpora's checks, applied to this one (aliased so pytest does not collect them twice here)
from test_corpus import test_held_out_pages_and_lines_are_disjoint_from_training as held_out_is_disjoint
from test_corpus import test_training_sides_never_translate_each_other as training_sides_are_disjoint

CACHE = Path(os.environ.get("UNMT_DEBIAN_CACHE", Path.home() / ".cache/unmt/debian"))
ISO3 = {"it": "ita", "ja": "jpn"}
BLEU_TOKENIZER = {"en": "tok:13a", "it": "tok:13a", "ja": "tok:ja-mecab-"}


# ja is slow (~100 s): MeCab words and ja-mecab BLEU keep their fast tests in test_languages.py, and en-it is the
# default run's unseen pair built and trained by config alone
@pytest.fixture(scope="module", params=["it", pytest.param("ja", marks=pytest.mark.slow)])
def new_pair(request, tmp_path_factory):
    lang = request.param
    packages = ("libreoffice-help-en-us", f"libreoffice-help-{lang}", f"dict-freedict-eng-{ISO3[lang]}",
                f"dict-freedict-{ISO3[lang]}-eng")
    if shutil.which("apt-get") is None and not all((CACHE / p / ".version").exists() for p in packages):
        pytest.skip(f"apt-get not found and {CACHE} lacks the en-{lang} packages: this test builds from Debian packages")
    d = tmp_path_factory.mktemp(f"en-{lang}")
    r = subprocess.run([sys.executable, "-m", "data_prep.build_corpus", "--langs", f"en,{lang}",
                        "--out", str(d / "corpus"), "--cache", str(CACHE)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    recipe = d / f"en-{lang}.yaml"
    # everything a user writes to add the pair: no code (compress is covered by the other tiny runs)
    recipe.write_text(f"name: tiny-en-{lang}\npreset: tiny\nlangs: [en, {lang}]\ncorpus: {d / 'corpus'}\n"
                      f"dictionary_test: {d / 'corpus' / f'dict.en-{lang}.test.txt'}\ncompress: {{enabled: false}}\n")
    unmt("run", recipe, "--run-dir", d / "run", "--quiet")
    return lang, d / "corpus", d / "run"


def test_a_new_pair_builds_from_debian_packages_without_parallel_training_sides(new_pair):
    lang, corpus, _ = new_pair
    manifest = json.loads((corpus / "manifest.json").read_text())
    assert manifest["languages"] == ["en", lang] and f"libreoffice-help-{lang}" in manifest["sources"]
    training_sides_are_disjoint((corpus, ["en", lang]))
    held_out_is_disjoint((corpus, ["en", lang]))
    d = manifest["dictionaries"][f"en-{lang}"]
    assert d["available"] and d["test_pairs"] > 100 and f"dict-freedict-eng-{ISO3[lang]}" in d["from"]


def test_the_tiny_recipe_runs_on_the_new_pair_by_config_alone(new_pair):
    lang, _, run = new_pair
    pair = f"en-{lang}"
    align = json.loads((run / "align/results.json").read_text())[pair]
    assert align["methods"]["identical"]["evaluated_words"] > 0  # P@1 measured on the FreeDict test words
    assert (run / f"mine/mined.{pair}.tsv").exists()
    res = json.loads((run / "evaluate/results.json").read_text())
    assert set(res["directions"]) == {pair, f"{lang}-en"}
    for direction, systems in res["directions"].items():
        assert {"unmt", "copy", "word-by-word"} <= set(systems)
        assert BLEU_TOKENIZER[direction.split("-")[1]] in systems["unmt"]["bleu_signature"]
    tags = (run / "prepare/bin/dict.txt").read_text().split("\n")
    assert any(t.startswith(f"__{lang}__") for t in tags)
    # the word-level stages found words, not clauses, in the unspaced language
    found = (run / f"align/words.{lang}.txt").read_text(encoding="utf-8").split()
    assert len(found) > 100 and sum(map(len, found)) / len(found) < (4 if lang == "ja" else 12)


def test_a_capped_language_keeps_at_most_n_lines_of_its_own_pages_and_the_same_held_out_sets(new_pair, tmp_path):
    """--max-train-lines makes a rare language: the cap holds, the pages stay its own, nothing else moves."""
    from test_corpus import read

    lang, full, _ = new_pair
    cap = 1500
    r = subprocess.run([sys.executable, "-m", "data_prep.build_corpus", "--langs", f"en,{lang}", "--max-train-lines",
                        f"{lang}={cap}", "--out", str(tmp_path / "capped"), "--cache", str(CACHE)],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    capped = tmp_path / "capped"
    lines, origins = read(capped, f"train.{lang}.xz"), read(capped, f"train.{lang}.origin.xz")
    assert len(lines) == len(origins) == cap < len(read(full, f"train.{lang}.xz"))
    assert set(origins) <= set(read(full, f"train.{lang}.origin.xz"))  # its own pages' lines, nothing new
    training_sides_are_disjoint((capped, ["en", lang]))
    held_out_is_disjoint((capped, ["en", lang]))
    for name in ("train.en.xz", "dev.origin.xz", "test.origin.xz", f"dev.{lang}.xz", f"test.{lang}.xz", "dev.en.xz"):
        assert read(capped, name) == read(full, name), f"{name} changed with the cap"
    # the ceiling's true translations: from the capped side's pages only those of the lines kept; the rest stay
    own = {line.split("\t")[0] for line in read(full, "pages.tsv.xz") if line.endswith(f"\ttrain.{lang}")}
    parallel, parallel_full = (read(c, f"parallel.en-{lang}.origin.xz") for c in (capped, full))
    on_capped = [o for o in parallel if o.split("#")[0] in own]
    assert on_capped and set(on_capped) <= set(origins) and len(parallel) < len(parallel_full)
    assert [o for o in parallel if o.split("#")[0] not in own] == [o for o in parallel_full if o.split("#")[0] not in own]
    manifest = json.loads((capped / "manifest.json").read_text())
    assert manifest["max_train_lines"] == {lang: cap} and f"--max-train-lines {lang}={cap}" in manifest["built_with"]


@pytest.mark.parametrize("caps, message", [("xx=10", "'xx=10' is not LANG=LINES"), ("it=0", "'it=0'"),
                                           ("it", "'it' is not LANG=LINES")])
def test_a_bad_cap_is_one_line(caps, message, tmp_path):
    r = subprocess.run([sys.executable, "-m", "data_prep.build_corpus", "--langs", "en,it", "--max-train-lines", caps,
                        "--out", str(tmp_path / "c")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode != 0 and message in r.stderr and not (tmp_path / "c").exists()

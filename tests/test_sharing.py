"""Sharing, measured by what the training logs say each language and direction trained on: language
sampling by temperature, and a multilingual run at equal per-direction compute with its bilingual run.

Tiny models on a corpus cut from corpora/libreoffice-5 so the languages have unequal sides (600 English,
150 French, 300 Chinese lines): each run takes seconds.
"""
import json
import lzma
import shutil

import pytest

from conftest import ROOT, unmt

SIDES = {"en": 600, "fr": 150, "zh": 300}


@pytest.fixture(scope="module")
def unequal_corpus(tmp_path_factory):
    src, out = ROOT / "corpora/libreoffice-5", tmp_path_factory.mktemp("unequal") / "corpus"
    out.mkdir()
    for lang, n in SIDES.items():
        for split, lines in (("train", n), ("dev", 60), ("test", 60)):
            with lzma.open(src / f"{split}.{lang}.xz", "rt", encoding="utf-8") as f:
                text = [next(f) for _ in range(lines)]
            (out / f"{split}.{lang}").write_text("".join(text), encoding="utf-8")
    return out


def recipe(tmp_path, corpus, langs, pairs, **sections) -> "Path":
    """A tiny recipe on ``corpus``: every side whole, batches of exactly 8 sentences per language or direction."""
    body = {"name": "tiny-sharing", "preset": "tiny", "langs": langs, "pairs": pairs, "corpus": str(corpus),
            "prepare": {"vocab_size": 800, "max_train_lines": None}, "compress": {"enabled": False},
            "dictionary_test": None}
    body.update(sections)
    path = tmp_path / f"{'-'.join(langs)}-{len(list(tmp_path.iterdir()))}.yaml"
    path.write_text(json.dumps(body))  # JSON is YAML
    return path


@pytest.fixture(scope="module")
def prepared(unequal_corpus, tmp_path_factory):
    """The three languages' vocabulary and binaries, made once: each test below copies the run folder and
    trains one stage in it (the prepare section is the same in all their recipes)."""
    d = tmp_path_factory.mktemp("prepared")
    unmt("run", recipe(d, unequal_corpus, ["en", "fr", "zh"], ["en-fr", "en-zh"]), "--run-dir", d / "run",
         "--only", "prepare", "--quiet")
    return d / "run"


def stage_result(run, stage):
    return json.loads((run / "manifest.json").read_text())["stages"][stage]["result"]


@pytest.mark.parametrize("temperature", [1.0, 3.0])
def test_logged_language_shares_follow_the_temperature_formula(unequal_corpus, prepared, tmp_path, temperature):
    run = shutil.copytree(prepared, tmp_path / "run")
    r = recipe(tmp_path, unequal_corpus, ["en", "fr", "zh"], ["en-fr", "en-zh"],
               pretrain={"max_update": 50, "sampling_temperature": temperature, "batch_sentences": 8,
                         "max_tokens": 4000})
    unmt("run", r, "--run-dir", run, "--only", "pretrain", "--quiet")
    sizes = {l: stage_result(run, "prepare")[f"train.{l}"] for l in SIDES}
    assert sizes["en"] > sizes["zh"] > sizes["fr"]
    weight = {l: n ** (1 / temperature) for l, n in sizes.items()}
    want = {l: w / sum(weight.values()) for l, w in weight.items()}
    held = stage_result(run, "pretrain")["examples_per_direction"]
    assert held["updates"] == 50
    got = held["language_share"]
    assert all(abs(got[l] - want[l]) < 0.03 for l in SIDES), (got, want)
    # the most frequent language trains at every update; denoising only (pretraining has no back-translation)
    assert held["examples"]["en-en"] == {"dae": 50 * 8}
    assert "share_fr" in (run / "pretrain/train.log").read_text()


def test_a_shared_run_at_equal_per_direction_compute_trains_each_direction_as_much_as_alone(unequal_corpus, prepared,
                                                                                              tmp_path):
    # the update budget, batches and start are the same; only the other pair differs
    train = {"max_update": 30, "batch_sentences": 8, "max_tokens": 4000, "bt_partners": "all", "warm_start": "none",
             "init_from_pretrain": False, "validate_interval_updates": 0}
    alone, shared = tmp_path / "alone", shutil.copytree(prepared, tmp_path / "shared")
    unmt("run", recipe(tmp_path, unequal_corpus, ["en", "fr"], ["en-fr"]), "--run-dir", alone, "--only", "prepare",
         "--quiet")
    for run, langs, pairs in ((alone, ["en", "fr"], ["en-fr"]), (shared, ["en", "fr", "zh"], ["en-fr", "en-zh"])):
        unmt("run", recipe(tmp_path, unequal_corpus, langs, pairs, train=train), "--run-dir", run, "--only", "train",
             "--quiet")
    a = stage_result(alone, "train")["examples_per_direction"]["examples"]
    s = stage_result(shared, "train")["examples_per_direction"]["examples"]
    for direction in ("en-fr", "fr-en", "en-en", "fr-fr"):
        assert set(a[direction]) == set(s[direction])
        for kind, n in a[direction].items():
            assert abs(s[direction][kind] - n) <= 0.05 * n, (direction, kind, n, s[direction][kind])
    # and English was back-translated into both partners at every update, not one in turn
    assert s["zh-en"]["bt"] == s["fr-en"]["bt"] > 0 and "--bt-all-partners" in (shared / "train/command.txt").read_text()

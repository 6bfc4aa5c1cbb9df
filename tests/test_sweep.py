"""The thesis sweep: cipher languages that share structure with English and no token, and one recipe run over
several pairs as submitit jobs into one folder and one table."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, unmt
from data_prep.cipher import Cipher, build_cipher_corpus, reorder
from unmt.errors import UnmtError
from unmt.io import read_lines

SOURCE = ROOT / "corpora" / "libreoffice-en-fr"


@pytest.fixture(scope="module")
def english() -> list[str]:
    return read_lines(SOURCE / "test.en.xz", "test set")


@pytest.mark.parametrize("words", [False, True])
def test_a_cipher_shares_no_token_with_english_and_deciphers_to_it(english, words):
    c = Cipher.build(english, seed=3, words=words)
    ciphered = [c.encode(line) for line in english]
    english_tokens = {t for line in english for t in line.split()}
    assert not {t for line in ciphered for t in line.split()} & english_tokens
    assert not {ch for line in ciphered for ch in line if not ch.isspace()} & {ch for line in english for ch in line}
    assert [c.decode(line) for line in ciphered] == english  # a bijection: the key gives the text back
    assert len(set(c.chars.values())) == len(c.chars)
    if words:
        assert len(set(c.words.values())) == len(c.words)
        same_stem = [w for w in ("file", "files") if w in c.words]
        if len(same_stem) == 2:  # no shared morphology: related words share nothing visible
            assert not c.words["files"].startswith(c.words["file"])


def test_a_cipher_is_determined_by_its_seed(english):
    a, b, other = (Cipher.build(english, seed=s, words=True) for s in (1, 1, 2))
    assert a.to_json() == b.to_json() and a.to_json() != other.to_json()
    assert Cipher.from_json(json.loads(json.dumps(a.to_json()))).encode(english[0]) == a.encode(english[0])


def test_reordering_reverses_or_shuffles_the_words_and_nothing_else(english):
    line = next(l for l in english if len(l.split()) > 6)
    assert reorder(line, "reversed", 1).split() == line.split()[::-1]
    shuffled = reorder(line, "shuffled", 1)
    assert sorted(shuffled.split()) == sorted(line.split()) and shuffled != line
    assert reorder(line, "shuffled", 1) == shuffled  # seeded


def test_a_cipher_corpus_pairs_english_with_other_pages_in_cipher(tmp_path):
    m = build_cipher_corpus(SOURCE, "char", tmp_path / "c", seed=1)
    out = tmp_path / "c"
    assert m["languages"] == ["en", "qca"]
    key = Cipher.from_json(json.loads((out / "cipher.json").read_text()))
    train_en = set(read_lines(out / "train.en.xz"))
    other = [key.decode(l) for l in read_lines(out / "train.qca.xz")]
    # the cipher side is English the English side never saw (other pages)
    pages_en = {o.split("#")[0] for o in read_lines(out / "train.en.origin.xz")}
    pages_other = {o.split("#")[0] for o in read_lines(out / "train.qca.origin.xz")}
    assert not pages_en & pages_other and len(other) > 1000
    # help pages repeat short lines across pages ("Click OK.", menu paths): 8.8% of the other pages' lines
    # also occur on the English side's pages, as for the natural pair's other language
    assert sum(l in train_en for l in other) < 0.12 * len(other)
    assert [key.decode(l) for l in read_lines(out / "test.qca.xz")] == read_lines(out / "test.en.xz")
    pairs = [l.split() for l in read_lines(out / "dict.en-qca.test.txt")]
    assert pairs and all(key.decode(t) == s for s, t in pairs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]  # built aside as c.partial, then renamed


def test_a_bad_sweep_file_is_one_line(tmp_path):
    from unmt.sweep import load_sweep

    cases = {"points: []\nname: x\nrecipe: recipes/tests/tiny.yaml\n": "points: none given",
             "name: x\nrecipe: recipes/tests/tiny.yaml\npoints:\n  - {langs: [en, fr], cipher: char}\n": "one of them",
             "name: x\nrecipe: recipes/tests/tiny.yaml\npoints:\n  - {cipher: morse}\n": "'morse' is not one of",
             "name: x\nrecipe: recipes/tests/tiny.yaml\npoints:\n  - {cipher: domain}\n": "needs domain",
             "name: x\nrecipe: recipes/tests/tiny.yaml\npoints:\n  - {langs: [en]}\n": "two or more language codes",
             "name: x\nrecipe: recipes/tests/tiny.yaml\npoints:\n  - {langs: [en, es, fr]}\n": "among the sweep's corpora",
             "name: x\nrecipe: recipes/tests/tiny.yaml\ncorpora: {c: {langs: [en, fr], cap: 3}}\npoints:\n"
             "  - {langs: [en, fr], corpus: c}\n": "corpora: c: give langs",
             "name: x\nrecipe: recipes/tests/tiny.yaml\ncorpora: {c: {langs: [en, fr]}}\npoints:\n"
             "  - {langs: [en, de], corpus: c}\n": "corpus c has no de",
             "name: x\nrecipe: recipes/nowhere.yaml\npoints:\n  - {langs: [en, fr]}\n": "not found",
             "name: x\nrecipe: recipes/tests/tiny.yaml\nsed: [1]\npoints:\n  - {langs: [en, fr]}\n": "unknown field 'sed'",
             "name: x\nrecipe: recipes/tests/tiny.yaml\npoints:\n  - {langs: [en, fr], control: en-de}\n":
             "control 'en-de' is not another point"}
    for text, needle in cases.items():
        (tmp_path / "s.yaml").write_text(text)
        with pytest.raises(UnmtError, match=needle):
            load_sweep(tmp_path / "s.yaml")


def test_a_shared_point_and_its_bilingual_points_read_one_named_corpus(tmp_path):
    """sweeps/sharing.yaml: every run of the rare-language test reads the one capped corpus the sweep builds,
    the shared model translates its pairs, the wide variants differ from the others in the model only and the
    block2 variants in the decoding only."""
    from unmt.sweep import _recipe, corpus_of, load_sweep

    sweep = load_sweep(ROOT / "sweeps" / "sharing.yaml")  # every run's recipe is checked as it loads
    assert [f"{p.name}-s{s}" for p, s in sweep.runs()][:6] == [
        "it-alone-s1", "it-shared-s1", "es-alone-s1", "fr-alone-s1", "it-alone-block2-s1", "it-shared-block2-s1"]
    assert {f"{p.name}-s{s}" for p, s in sweep.runs()} >= {"it-alone-wide-s1", "it-shared-wide-s1"} | {
        f"{n}-block2-s{s}" for n in ("it-alone", "it-shared", "es-alone", "fr-alone") for s in (1, 2, 3)}
    points = {p.name: p for p in sweep.points}
    corpora = {corpus_of(sweep, p, tmp_path) for p in sweep.points}
    assert corpora == {tmp_path / "corpora" / "rare-it"}
    shared = _recipe(sweep, points["it-shared"], 2, tmp_path / "corpora" / "rare-it")
    assert shared.langs == ["en", "it", "es", "fr"] and shared.pairs == ["en-it", "en-es", "en-fr"]
    assert shared.seed == 2 and shared.dictionary_test.endswith("dict.{pair}.test.txt")
    assert shared.train.bt_partners == "all" and shared.train.batch_sentences == shared.pretrain.batch_sentences
    alone, wide = (_recipe(sweep, points[n], 1, tmp_path / "corpora" / "rare-it") for n in ("it-alone", "it-alone-wide"))
    assert alone.langs == ["en", "it"] and alone.pairs == ["en-it"] and alone.model.dim < wide.model.dim
    assert {k: v for k, v in vars(alone).items() if k not in ("model", "name")} == \
        {k: v for k, v in vars(wide).items() if k not in ("model", "name")}
    # the same runs up to train, so each takes its control's stages
    for name in ("it-alone", "it-shared", "es-alone", "fr-alone"):
        plain, blocked = (_recipe(sweep, points[n], 2, tmp_path / "corpora" / "rare-it") for n in (name, f"{name}-block2"))
        assert plain.evaluate.no_repeat_ngram == 0 and blocked.evaluate.no_repeat_ngram == 2
        assert {k: v for k, v in vars(plain).items() if k not in ("evaluate", "name")} == \
            {k: v for k, v in vars(blocked).items() if k not in ("evaluate", "name")}
    assert sweep.corpora["rare-it"]["max_train_lines"] == {"it": 2000}
    en_zh = load_sweep(ROOT / "sweeps" / "en-zh.yaml")  # the distant pair's hypotheses load and check too
    base = next(p for p in en_zh.points if p.name == "en-zh-base")
    assert corpus_of(en_zh, base, tmp_path) == ROOT / "corpora" / "libreoffice-en-zh"  # the committed corpus


def test_the_committed_records_on_committed_corpora_still_stand(tmp_path):
    """A change to a stage's fingerprint would have the next sweep train again runs whose record stands
    (hours each): the thesis sweep's runs on corpora/ (en-fr, en-de, en-zh) must not need it."""
    from unmt.sweep import _recipe, corpus_of, load_sweep, record_stands

    sweep = load_sweep(ROOT / "sweeps" / "thesis.yaml")
    out = ROOT / "sweeps" / "thesis"
    checked = []
    for p, seed in sweep.runs():
        corpus = corpus_of(sweep, p, out)
        record = out / "records" / f"{p.name}-s{seed}.json"
        if corpus.is_relative_to(ROOT / "corpora") and record.exists():
            checked.append((f"{p.name}-s{seed}", record_stands(_recipe(sweep, p, seed, corpus), tmp_path / "run", record)))
    assert len(checked) >= 5 and all(why is None for _, why in checked), checked


def test_only_picks_runs_by_name_in_the_sweeps_order(tmp_path):
    """--only: the seeds of the rare-language test before the wide model, say, without editing the file."""
    r = unmt("sweep", "sweeps/sharing.yaml", "--out", tmp_path, "--dry-run", "--only", "it-shared-s[23], it-alone-s[23]")
    assert [line.split(":")[0] for line in r.stdout.splitlines()] == ["it-alone-s2", "it-shared-s2", "it-alone-s3", "it-shared-s3"]
    bad = unmt("sweep", "sweeps/sharing.yaml", "--out", tmp_path, "--dry-run", "--only", "it-alone-s1,it-x*", check=False)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "'it-x*' matches no run" in bad.stderr and "it-shared-wide-s1" in bad.stderr


@pytest.mark.slow  # 2.5 minutes: the default run stays under 20
def test_the_sweep_runs_a_natural_pair_and_a_cipher_into_one_table(tiny_run, tmp_path):
    """The tiny recipe on en-fr and on the character cipher, as submitit jobs. The en-fr run is the session's
    tiny run copied in (a sweep reuses finished runs: it resumes), so only the cipher trains here. The cipher
    corpus has no test dictionary: its run still finishes and says P@1 is not available."""
    out = tmp_path / "sweep"
    shutil.copytree(tiny_run, out / "runs" / "en-fr-s1")
    trained = {k: v for k, v in json.loads((tiny_run / "manifest.json").read_text())["stages"].items()
               if k in ("prepare", "pretrain", "train", "lms")}
    build_cipher_corpus(SOURCE, "char", out / "corpora" / "cipher-char", seed=1)
    (out / "corpora" / "cipher-char" / "dict.en-qca.test.txt").unlink()
    r = unmt("sweep", ROOT / "sweeps" / "tests-tiny.yaml", "--out", out)
    result = json.loads((out / "results.json").read_text())
    rows = {row["run"]: row for row in result["rows"]}
    assert set(rows) == {"en-fr-s1", "cipher-char-s1"}
    cipher = rows["cipher-char-s1"]
    assert cipher["langs"] == ["en", "qca"] and cipher["lexicon_p@1"] is None
    assert set(cipher["directions"]) == {"en-qca", "qca-en"} and cipher["joint_saving_bits_per_char"] is not None
    assert rows["en-fr-s1"]["lexicon_p@1"]  # the natural pair has a dictionary
    table = (out / "results.md").read_text()
    assert "| en-fr-s1 | natural |" in table and "| cipher-char-s1 | cipher |" in table and "not available" in table
    assert "results:" in r.stdout and list((out / "jobs").iterdir())  # submitit's job files
    # the finished run was not trained again (other tests may have re-evaluated the shared tiny run with
    # other settings: the sweep then brings its evaluation back to the recipe's)
    stages = json.loads((out / "runs" / "en-fr-s1" / "manifest.json").read_text())["stages"]
    assert {k: stages[k] for k in trained} == trained


def test_a_resumed_training_counts_the_minutes_trained_before_the_kill(tiny_run, tmp_path):
    """A run killed in training and resumed records only the finishing attempt's seconds; fairseq's checkpoint
    kept the earlier attempts' training time (training_minutes), and the sweep's minutes count it."""
    from unmt.manifest import stage_minutes
    from unmt.sweep import load_sweep, run_row

    run = tmp_path / "en-fr-s1"
    run.mkdir()
    manifest = json.loads((tiny_run / "manifest.json").read_text())
    point = load_sweep(ROOT / "sweeps" / "tests-tiny.yaml").points[0]
    (run / "manifest.json").write_text(json.dumps(manifest))
    before = run_row(run, point, 1)["minutes"]
    train = manifest["stages"]["train"]
    assert stage_minutes(train) == pytest.approx(train["seconds"] / 60)  # run once: its own seconds
    train["seconds"], train["result"]["training_minutes"] = 60.0, 15.4  # resumed: 1 minute after 14 before
    (run / "manifest.json").write_text(json.dumps(manifest))
    assert stage_minutes(train) == 15.4
    assert run_row(run, point, 1)["minutes"] == pytest.approx(before - stage_minutes(
        json.loads((tiny_run / "manifest.json").read_text())["stages"]["train"]) + 15.4, abs=0.11)


def test_a_finished_run_is_kept_by_its_record_when_its_folder_is_gone(tiny_run, tmp_path):
    """A new checkout holds the sweep's committed records and no run folders: the sweep takes each finished
    run's row from its record and does not run it again, and its test translations from the archive beside
    the record. A record of another config does not stand."""
    from unmt.layout import SweepLayout
    from unmt.runner import Runner
    from unmt.io import read_lines
    from unmt.sweep import (_recipe, corpus_of, load_sweep, record_stands, run_output, run_row, run_sweep, write_outputs,
                            write_record)

    sweep = load_sweep(ROOT / "sweeps" / "tests-tiny.yaml")
    sweep.points = sweep.points[:1]  # en-fr
    p, out = sweep.points[0], tmp_path / "sweep"
    L = SweepLayout(out)
    cfg = _recipe(sweep, p, 1, corpus_of(sweep, p, out))
    run = tmp_path / "en-fr-s1"
    shutil.copytree(tiny_run, run)
    Runner(cfg, run, quiet=True).run()  # up to date, or its evaluation brought back to the sweep's recipe
    write_record(run, L.record(p.name, 1), [st.name for st in Runner(cfg, run, quiet=True).plan])
    row = run_row(run, p, 1)
    hyps = {f.name: read_lines(f) for f in (run / "evaluate").glob("test.*.hyp.*")}
    assert hyps and L.outputs_of(run).exists()
    kept = L.outputs_of(run).read_bytes()
    write_outputs(run, tmp_path / "again.tar.xz")
    assert (tmp_path / "again.tar.xz").read_bytes() == kept  # the same files, the same bytes: no git diff
    shutil.rmtree(run)
    assert {name: run_output(run, name, L.outputs_of(run)) for name in hyps} == hyps  # read from the archive
    assert run_output(run, "test.en-xx.hyp.xx", L.outputs_of(run)) is None
    assert record_stands(cfg, L.run(p.name, 1), L.record(p.name, 1)) is None
    result = run_sweep(sweep, out)
    assert not L.run(p.name, 1).exists()  # nothing ran
    assert result["rows"] == [row] and row["directions"] and row["joint_saving_bits_per_char"] is not None
    sweep.set = {"train": {"max_update": cfg.train.max_update + 1}}
    other = _recipe(sweep, p, 1, corpus_of(sweep, p, out))
    assert record_stands(other, L.run(p.name, 1), L.record(p.name, 1)) == "stage train: config changed"


def test_a_run_whose_recipe_measures_no_code_lengths_is_recorded_when_its_plan_is_done(tiny_run, tmp_path):
    """The sharing sweep's recipe turns compress off: its runs end at evaluate and are recorded, with a row
    that says the saving was not measured; a run cut before the end of its plan is not recorded."""
    from unmt.layout import RunLayout
    from unmt.sweep import Point, run_row, sweep_table, write_record

    run = shutil.copytree(tiny_run, tmp_path / "run")
    manifest = json.loads((run / "manifest.json").read_text())
    for stage in ("lms", "compress"):
        manifest["stages"].pop(stage)
        shutil.rmtree(RunLayout(run).dir(stage))
    (run / "manifest.json").write_text(json.dumps(manifest))
    record = tmp_path / "records" / "run.json"
    write_record(run, record, list(manifest["stages"]) + ["lms", "compress"])
    assert not record.exists()  # its plan had compress: cut short
    write_record(run, record, list(manifest["stages"]))
    assert json.loads(record.read_text())["evaluate"]["directions"]
    row = run_row(run, Point(name="en-fr", langs=["en", "fr"]), 1)
    assert "joint_saving_bits_per_char" not in row and row["directions"]
    line = sweep_table({"sweep": "s", "recipe": "r", "rows": [row]}).splitlines()[-1]
    assert line.startswith("| run | natural | – | ") and "not finished" not in line

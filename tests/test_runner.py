"""The stage graph: what each stage declares decides what reruns; every recipe field is checked before
anything runs; one run per folder; a full or read-only disk is a one-line error; no import side effects."""
from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from conftest import ROOT, unmt
from unmt.config import RecipeConfig, load_recipe
from unmt.errors import UnmtError
from unmt.manifest import NOT_CONTENT
from unmt.runner import Runner, reads_checked

TINY = ROOT / "recipes" / "tests" / "tiny.yaml"

# What the tiny plan's stages read from each other, written out by hand: the specification the stages'
# declarations are checked against (ppmi vectors: align does not read the LM; lexicon encoder: mine neither).
DEPENDS = {
    "prepare": set(),
    "pretrain": {"prepare"},
    "align": {"prepare"},
    "mine": {"prepare", "align"},
    "train": {"prepare", "pretrain", "align", "mine"},
    "evaluate": {"prepare", "align", "train"},
    "lms": {"prepare"},
    "compress": {"prepare", "train", "evaluate", "lms"},
}

# Which stages a config field is part of (besides the dependents that then follow).
TRAINING = {"pretrain", "train", "lms"}
FIELD_READERS = {
    "langs": set(DEPENDS), "seed": {"prepare", "pretrain", "align", "mine", "train", "lms"},
    "precision": TRAINING, "nproc": {"pretrain", "train"}, "model": TRAINING, "prepare.max_len": {"prepare", "train", "lms"},
    "compress": {"lms"}, "compress.heldout": {"lms", "compress"},
    # dev-only: they pick checkpoint_best.pt, which the evaluate stage reads only under evaluate.checkpoint: best
    # (tests/test_front_door.py); the tiny recipe evaluates its last checkpoint
    "train.valid_bleu": set(), "train.valid_sentences": set(),
}
# fields that change the plan or the inputs rather than a stage's result (checked elsewhere)
NOT_A_SLICE = {"name", "preset", "corpus", "dictionary_test", "ablation", "compress.enabled", "mine.rounds",
               "mine.later_encoder", "mine.round_updates", "mine.round_minutes", "train.warm_start",
               "align.vectors", "align.vec_files", "mine.encoder", "evaluate.checkpoint",
               "pairs",   # resolved from langs in a bilingual recipe; several pairs: tests/test_languages.py
               "supervised_ceiling",   # adds a stage to the plan (tests/test_languages.py)
               "align.criterion",   # chooses among methods only (below)
               "prepare.spm_sample_lines", "prepare.workers"}   # streaming only / never the output (below)


def test_align_criterion_is_in_the_fingerprint_only_when_methods_compete(tmp_path):
    from unmt.layout import RunLayout
    from unmt.stages.align import Align

    def fingerprint(criterion, methods):
        cfg = load_recipe(TINY, {"align": {"criterion": criterion, "methods": methods}})
        return Align(cfg, RunLayout(tmp_path)).config()

    # one method: nothing to choose, so runs from before the field existed stay cached
    assert fingerprint("muse", ["identical"]) == fingerprint("frequency", ["identical"])
    assert fingerprint("muse", ["identical", "vecmap"]) != fingerprint("frequency", ["identical", "vecmap"])


def test_streaming_fields_are_in_the_fingerprint_only_when_they_change_the_output(tmp_path):
    from unmt.layout import RunLayout
    from unmt.stages.prepare import Prepare

    def fingerprint(**prepare):
        return Prepare(load_recipe(TINY, {"prepare": prepare}), RunLayout(tmp_path)).config()

    # in memory, the sample size does nothing: runs from before these fields existed stay cached
    assert fingerprint(spm_sample_lines=1000) == fingerprint() == fingerprint(workers=1)
    assert fingerprint(shard_lines=200) != fingerprint()
    assert fingerprint(shard_lines=200, spm_sample_lines=1000) != fingerprint(shard_lines=200)
    # the worker count never changes the bytes (tests/test_streaming_prepare.py)
    assert fingerprint(shard_lines=200, workers=1) == fingerprint(shard_lines=200, workers=2)


def test_target_vocabulary_is_in_the_train_fingerprint_only_when_on(tmp_path):
    from unmt.layout import RunLayout
    from unmt.stages.train import Train

    def fingerprint(**train):
        return Train(load_recipe(TINY, {"train": train}), RunLayout(tmp_path)).config()

    # off (the default), runs trained before the field existed stay cached; on, it changes every decode
    assert "target_vocab_min_count" not in fingerprint() and fingerprint() == fingerprint(target_vocab_min_count=0)
    assert fingerprint(target_vocab_min_count=1)["target_vocab_min_count"] == 1


def test_length_penalty_is_in_the_evaluate_fingerprint_only_when_not_fairseqs_default(tmp_path):
    from unmt.layout import RunLayout
    from unmt.stages.evaluate import Evaluate

    def fingerprint(**evaluate):
        return Evaluate(load_recipe(TINY, {"evaluate": evaluate}), RunLayout(tmp_path)).config()

    # 1.0 decodes as before the field existed, so those runs stay cached; any other value changes the output
    assert "lenpen" not in fingerprint() and fingerprint() == fingerprint(lenpen=1.0)
    assert fingerprint(beam=4, lenpen=2.0)["lenpen"] == 2.0
    with pytest.raises(UnmtError, match="evaluate.lenpen"):
        load_recipe(TINY, {"evaluate": {"lenpen": -1}})
    with pytest.raises(UnmtError, match="evaluate.lenpen: 2.0 acts only in beam search"):  # greedy: no effect
        load_recipe(TINY, {"evaluate": {"lenpen": 2.0}})


def test_a_late_field_is_in_no_stage_fingerprint_at_its_default_and_in_its_readers_otherwise(tmp_path):
    # one mechanism (the field's `late` metadata, config.fingerprint_fields) keeps every run recorded before
    # such a field existed cached, in whichever stage reads it
    late = {path: (value, tp, meta) for path, value, tp, meta in fields(load_recipe(TINY)) if meta.get("late")}
    assert {"train.target_vocab_min_count", "evaluate.lenpen"} <= set(late)
    configs = lambda cfg: {st.name: json.dumps(st.config()) for st in Runner(cfg, tmp_path / "run").plan}  # noqa: E731
    default = configs(load_recipe(TINY))
    for path, (value, tp, meta) in late.items():
        key = f'"{path.split(".")[-1]}"'
        assert not any(key in c for c in default.values()), path
        section = path.split(".")[0]
        overrides = nested(path, another_valid_value(value, tp, meta))
        for other, other_value in NEEDS.get(path, {}).items():
            overrides[section][other.split(".", 1)[1]] = other_value
        changed = configs(load_recipe(TINY, overrides))
        assert {name for name, c in changed.items() if key in c} >= {section}, path


def closure(stages: set[str]) -> set[str]:
    """The stages themselves and every stage that (transitively) reads from one of them."""
    out = set(stages)
    while True:
        more = {s for s, deps in DEPENDS.items() if deps & out} - out
        if not more:
            return out
        out |= more


def would_run(run_dir: Path, overrides: dict | None = None) -> set[str]:
    r = Runner(load_recipe(TINY, overrides), run_dir)
    return {st.name for st, why in r.status() if why}


def fields(dc, prefix=""):
    hints = typing.get_type_hints(type(dc))
    for f in dataclasses.fields(dc):
        value = getattr(dc, f.name)
        if dataclasses.is_dataclass(value):
            yield from fields(value, prefix + f.name + ".")
        else:
            yield prefix + f.name, value, hints[f.name], dict(f.metadata)


def nested(path: str, value) -> dict:
    out: typing.Any = value
    for part in reversed(path.split(".")):
        out = {part: out}
    return out


def another_valid_value(value, tp, meta):
    """A different value the field accepts."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) is typing.Literal:
        return next(a for a in args if a != value)
    if typing.get_origin(tp) is typing.Union and value is None:
        tp = next(a for a in args if a is not type(None))
        return {int: 7, float: 5.0}[tp] if tp in (int, float) else None
    if typing.get_origin(tp) is list and args[0] is str:  # langs: the same languages in another order
        return list(value)[::-1]
    if typing.get_origin(tp) is list:
        return [a for a in typing.get_args(args[0]) if a not in value][:1] + list(value)
    if typing.get_origin(tp) is tuple:
        return list(value)[::-1]
    if meta.get("schedule"):
        return "0:1,3:0.5"
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1 if meta.get("max") is None else (value + meta["max"]) / 2
    raise AssertionError(f"no other value for {value!r}")


def test_every_tiny_run_stage_is_up_to_date(tiny_run):
    assert would_run(tiny_run) == set()


def test_changing_a_declared_input_reruns_its_readers_and_what_follows(tiny_run):
    runner = Runner(load_recipe(TINY), tiny_run)
    assert [s.name for s in runner.plan] == list(DEPENDS)
    for stage in runner.plan:
        for name, path in stage.inputs().items():
            target = path if path.is_file() else sorted(p for p in path.rglob("*")
                                                        if p.is_file() and not p.name.endswith(NOT_CONTENT))[0]
            original = target.read_bytes()
            # a log is read for its records (a curve): change one; any other file, by a byte
            change = (b'2026-01-01 00:00:00 | INFO | valid | {"valid_loss": "1.5", "valid_num_updates": "99"}\n'
                      if target.suffix == ".log" else b"\n")
            try:
                target.write_bytes(original + change)
                readers = {s.name for s in runner.plan
                           if any(target == p or (p.is_dir() and target.is_relative_to(p)) for p in s.inputs().values())}
                assert stage.name in readers
                assert would_run(tiny_run) == closure(readers), (stage.name, name)
            finally:
                target.write_bytes(original)
    assert would_run(tiny_run) == set()


def test_logs_and_timings_rewritten_rerun_nothing(tiny_run):
    """What the clock or the folder's path wrote is no input: a log's lines that are no record, its timings,
    a folder's preprocess.log and a results' timings file change nothing downstream."""
    log, prep = tiny_run / "train" / "train.log", tiny_run / "prepare" / "bin" / "preprocess.log"
    originals = {p: p.read_bytes() for p in (log, prep)}
    try:
        text = originals[log].decode()
        retimed = "\n".join(l.replace('"train_wall": "', '"train_wall": "9') for l in text.split("\n"))
        assert retimed != text
        log.write_text(retimed + "2026-01-01 00:00:00 | INFO | fairseq_cli.train | another machine\n")
        prep.write_bytes(originals[prep] + b"Namespace(destdir='/elsewhere')\n")
        assert would_run(tiny_run) == set()
    finally:
        for p, b in originals.items():
            p.write_bytes(b)


# fields a recipe may change only together with another (check_recipe's cross-field rules)
NEEDS = {"evaluate.lenpen": {"evaluate.beam": 2}}   # a length penalty acts only in beam search


def test_changing_a_config_field_reruns_its_stages_and_what_follows(tiny_run):
    checked = 0
    for path, value, tp, meta in fields(load_recipe(TINY)):
        if path in NOT_A_SLICE:
            continue
        section = path.split(".")[0]
        readers = FIELD_READERS[path] if path in FIELD_READERS else FIELD_READERS.get(section) or {section}
        expected = closure(readers)
        overrides = nested(path, another_valid_value(value, tp, meta))
        for other, other_value in NEEDS.get(path, {}).items():  # same section: a field valid only with another
            overrides[section][other.split(".", 1)[1]] = other_value
        assert would_run(tiny_run, overrides) == expected, path
        checked += 1
    assert checked > 60


def test_align_with_lm_vectors_depends_on_pretraining(tiny_run):
    # with `vectors: embedding` align reads the pretrained LM, so a pretraining change reaches it
    assert "align" in would_run(tiny_run, {"align": {"vectors": "embedding"}})
    runner = Runner(load_recipe(TINY, {"align": {"vectors": "embedding"}}), tiny_run)
    align = next(s for s in runner.plan if s.name == "align")
    assert align.inputs()["checkpoint"] == tiny_run / "pretrain" / "checkpoint_last.pt"
    assert "checkpoint" not in next(s for s in Runner(load_recipe(TINY), tiny_run).plan if s.name == "align").inputs()


def test_a_stage_cannot_read_what_it_did_not_declare(tiny_run, monkeypatch):
    monkeypatch.setenv("UNMT_STRICT_READS", "1")
    runner = Runner(load_recipe(TINY), tiny_run)
    align = next(s for s in runner.plan if s.name == "align")
    with reads_checked(align, align.inputs()):
        (tiny_run / "prepare" / "text" / "train.en").read_bytes()  # declared
        with pytest.raises(UnmtError, match="without declaring it"):
            (tiny_run / "pretrain" / "checkpoint_last.pt").read_bytes()
    (tiny_run / "pretrain" / "checkpoint_last.pt").open("rb").close()  # outside a stage: no check


# -- recipe checking -----------------------------------------------------------------------------
def invalid_values(value, tp, meta):
    """(description, bad value) cases for a field: wrong type, wrong choice, out of range."""
    origin = typing.get_origin(tp)
    dict_typed = any(typing.get_origin(a) is dict for a in (tp,) + typing.get_args(tp))
    cases = [("wrong type", "bogus" if dict_typed else {"not": "a value"})]
    if meta.get("nonempty"):
        cases.append(("empty", []))
    if origin is typing.Literal:
        cases.append(("wrong choice", "bogus"))
    elif origin is list:
        cases += [("wrong shape", "bogus"), ("wrong choice", ["bogus"])]
    elif origin is tuple:
        cases += [("wrong shape", "fr"), ("wrong length", ["en", "fr", "de"])]
    elif tp in (int, float) or (origin is typing.Union and {int, float} & set(typing.get_args(tp))):
        cases.append(("wrong type", "abc"))
        if meta.get("min") is not None:
            cases.append(("out of range", meta["min"] - 1))
    elif tp is bool:
        cases.append(("wrong type", "yes"))
    if meta.get("schedule"):
        cases.append(("bad schedule", "0:1,x"))
    return cases


def recipe_cases():
    for path, value, tp, meta in fields(RecipeConfig()):
        if path in ("name", "preset", "corpus", "dictionary_test"):
            continue
        for what, bad in invalid_values(value, tp, meta):
            yield f"{path}: {what}", nested(path, bad), path.split(".")[-1]
    yield "recipe is a list", ["preset", "tiny"], "mapping"
    yield "preset is a list", {"preset": ["tiny"]}, "preset"
    yield "unknown field", {"train": {"lr_typo": 1}}, "lr_typo"
    yield "retired field", {"train": {"valid_batches": 8}}, "use train.valid_sentences"
    yield "section not a mapping", {"train": 5}, "train"
    yield "same language twice", {"langs": ["en", "en"]}, "langs"
    yield "ablation variant field", {"ablation": {"v": {"warm_start": "bogus"}}}, "warm_start"
    yield "ablation variant type", {"ablation": {"v": {"max_update": "abc"}}}, "max_update"
    yield "best without dev BLEU", {"evaluate": {"checkpoint": "best"}, "train": {"valid_bleu": False}}, "best"
    yield "missing corpus", {"corpus": "corpora/nowhere"}, "nowhere"
    yield "missing dictionary", {"dictionary_test": "corpora/nowhere.txt"}, "nowhere"


CASES = list(recipe_cases())


def test_every_field_has_invalid_cases():
    covered = {c[0].split(":")[0] for c in CASES}
    for path, *_ in fields(RecipeConfig()):
        assert path in covered or path in ("name", "preset", "corpus", "dictionary_test"), path
    assert len(CASES) > 100


def _snapshot(run_dir: Path) -> dict[str, str]:
    return {str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run_dir.rglob("*")) if p.is_file() and p.name != ".lock"}


def test_every_invalid_recipe_value_is_a_one_line_error_before_anything_runs(tiny_run, tmp_path):
    """In-process through click (fast), on a fresh folder and on the finished tiny run: exit 2, one line
    naming the recipe and the field, no traceback, no folder created, the finished run untouched."""
    import yaml
    from click.testing import CliRunner

    from unmt.cli import main

    before = _snapshot(tiny_run)
    cli = CliRunner()
    for n, (what, content, needle) in enumerate(CASES):
        base = yaml.safe_load(TINY.read_text())
        recipe = tmp_path / f"r{n}.yaml"
        recipe.write_text(yaml.safe_dump({**base, **content} if isinstance(content, dict) else content))
        for run_dir in (tmp_path / f"run{n}", tiny_run):
            res = cli.invoke(main, ["run", str(recipe), "--run-dir", str(run_dir), "--quiet"])
            assert res.exit_code == 2 and isinstance(res.exception, SystemExit), (what, res.output, res.exception)
            lines = [l for l in res.stderr.splitlines() if l.strip()]
            assert len(lines) == 1 and lines[0].startswith("error: "), (what, res.stderr)
            assert needle in lines[0], (what, lines[0])
            assert str(recipe) in lines[0] or needle in ("nowhere",), (what, lines[0])
        assert not (tmp_path / f"run{n}").exists(), what
    assert _snapshot(tiny_run) == before


@pytest.mark.parametrize("content,needle", [
    ("preset: tiny\nmine: {index: bogus}\n", "mine.index"),
    ("preset: tiny\ntrain: {max_minutes: abc}\n", "train.max_minutes"),
    ("- tiny\n", "mapping"),
    ("", "is empty"),
    ("# only a comment\n", "is empty"),
    ("preset: tiny\nlangs: [en, fr]\n", "does not set name or corpus"),
    ("name: t\npreset: tiny\ncorpus: corpora/libreoffice-en-fr\npreset: cpu-default\n", "line 4: 'preset' is given twice"),
    ("name: t\ncorpus: corpora/libreoffice-en-fr\ntrain: {lr: 1, lr: 2}\n", "line 3: 'lr' is given twice"),
])
def test_bad_recipe_through_the_real_cli(tmp_path, content, needle):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(content)
    r = unmt("run", recipe, "--run-dir", tmp_path / "run", check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and needle in r.stderr and str(recipe) in r.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("recipe", sorted(str(p.relative_to(ROOT / "recipes")) for p in (ROOT / "recipes").rglob("*.yaml")))
def test_every_committed_recipe_loads_and_names_files_that_exist(recipe):
    from unmt.config import dictionary_for, pair_list

    cfg = load_recipe(ROOT / "recipes" / recipe)
    text = (ROOT / "recipes" / recipe).read_text(encoding="utf-8")
    if "python -m data_prep.news_corpus" in text:  # downloaded, not committed: its header must say how to build it
        assert f"--out {cfg.corpus}" in text, recipe
        return
    if cfg.corpus:
        corpus = ROOT / cfg.corpus
        for lang in cfg.langs:
            assert (corpus / f"train.{lang}.xz").exists() and (corpus / f"test.{lang}.xz").exists(), (recipe, lang)
    for src, tgt in pair_list(cfg):
        d = dictionary_for(cfg, src, tgt)
        assert d is None or (ROOT / d).exists(), (recipe, d)


def test_dump_config_round_trips(tmp_path):
    out = unmt("run", TINY, "--dump-config").stdout
    (tmp_path / "dumped.yaml").write_text(out)
    assert load_recipe(tmp_path / "dumped.yaml") == load_recipe(TINY)


# -- one run per folder, disks that fail -----------------------------------------------------------
def test_a_second_run_on_the_same_folder_is_refused(tiny_run):
    with open(tiny_run / ".lock", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what a running `unmt run` holds
        try:
            r = unmt("run", TINY, "--run-dir", tiny_run, check=False)
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "in use by another unmt run" in r.stderr
    assert "up to date" in unmt("run", TINY, "--run-dir", tiny_run).stdout  # free again afterwards


def mount_tmpfs(mnt: Path, size: str) -> None:
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.strip()}")


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KB tmpfs: a real ENOSPC (and, remounted, a real read-only file system)."""
    mnt = tmp_path / "disk"
    mount_tmpfs(mnt, "64k")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def _pages(path: Path) -> int:
    return -(-path.stat().st_size // 4096) * 4096


@pytest.mark.slow  # trains an LM before its disk fills: the default run stays near 20 minutes
def test_full_disk_while_fairseq_copies_a_checkpoint_names_it_and_leaves_no_partial_file(tiny_run, tmp_path):
    """fairseq saves an LM's first checkpoint once and copies it to checkpoint_best.pt: on a disk with room
    for the first write but not the copy, the copy fails. No truncated checkpoint may stay behind, and the
    one-line error names the file."""
    from unmt.fairseq_run import read_checkpoint

    lms = tiny_run / "lms"
    ckpt = max(_pages(p) for p in lms.rglob("checkpoint_last.pt"))
    rest = sum(_pages(p) for p in tiny_run.rglob("*") if p.is_file() and p.suffix != ".pt"
               and not p.is_relative_to(tiny_run / "compress"))  # every file but the checkpoints (and compress)
    rest += sum(_pages(p) for p in tiny_run.glob("*/*.pt") if not p.is_relative_to(lms))
    mnt = tmp_path / "disk"
    mount_tmpfs(mnt, str(rest + ckpt * 3 // 2 + (256 << 10)))  # the first LM's data and one save, not two
    try:
        run = mnt / "run"
        shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("lms", "compress"))
        r = unmt("run", TINY, "--run-dir", run, "--only", "lms", "--quiet", check=False)
        assert r.returncode == 2, r.stdout + r.stderr
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        assert len(lines) == 1 and lines[0].startswith(f"error: {run / 'lms'}/lm-"), r.stderr
        assert lines[0].split(": ")[1].endswith("/checkpoint_best.pt"), lines[0]
        assert "could not be written" in lines[0] and "No space left on device" in lines[0], lines[0]
        assert not list(run.rglob("*.tmp"))
        for p in (run / "lms").rglob("*.pt"):
            read_checkpoint(p)  # every checkpoint left is whole
        assert "lms" not in json.loads((run / "manifest.json").read_text())["stages"]
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_is_a_one_line_error_and_leaves_no_temp_file(small_disk):
    run = small_disk / "run"
    r = unmt("run", TINY, "--run-dir", run, "--until", "prepare", check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "space" in lines[0], r.stderr
    assert not list(small_disk.rglob("*.tmp")) and not (run / "prepare").exists()
    assert "prepare" not in json.loads((run / "manifest.json").read_text())["stages"] if (run / "manifest.json").exists() else True


def test_read_only_disk_is_a_one_line_error(small_disk):
    run = small_disk / "run"
    run.mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    r = unmt("run", TINY, "--run-dir", run, check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "Read-only file system" in lines[0] and "writable" in lines[0], r.stderr


# -- the command line ------------------------------------------------------------------------------
def test_every_stage_command_is_generated_once_from_the_registry():
    from unmt.cli import main
    from unmt.stages import STAGES

    for kind in STAGES:
        assert kind in main.commands
        r = unmt(kind, "--help")
        assert "RECIPE" in r.stdout and "--run-dir" in r.stdout and "--force" in r.stdout
    assert "--hyp" in unmt("evaluate", "--help").stdout


def test_stage_commands_and_run_selection_on_a_finished_run(tiny_run):
    r = unmt("evaluate", TINY, "--run-dir", tiny_run)
    assert "[evaluate] up to date" in r.stdout and "| en-fr | unmt |" in r.stdout
    r = unmt("run", TINY, "--run-dir", tiny_run, "--until", "align", "--dry-run")
    assert [l.split()[0] for l in r.stdout.splitlines()] == ["prepare", "pretrain", "align"]
    assert "up to date" in r.stdout
    r = unmt("run", TINY, "--run-dir", tiny_run, "--only", "mine")
    assert r.stdout.strip().splitlines() == [f"[mine] up to date, skipped (outputs in {tiny_run / 'mine'})"]
    r = unmt("run", TINY, "--run-dir", tiny_run, "--only", "mine2", check=False)
    assert r.returncode == 2 and "not in this recipe's plan" in r.stderr


def test_importing_unmt_changes_no_global_state():
    # numpy and torch add warning filters of their own when imported: they are imported first
    code = ("import os, warnings, numpy, torch, sentencepiece; os.umask(0o027); before = list(warnings.filters);"
            "import unmt.cli, unmt.io, unmt.runner, unmt.translate, unmt.align, unmt.mine;"
            "assert os.umask(0o027) == 0o027; assert warnings.filters == before, 'warnings filters changed';"
            "assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in os.environ")
    env = {k: v for k, v in os.environ.items() if k != "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"}
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-2000:]


def test_atomic_write_applies_the_umask(tmp_path):
    from unmt.io import write_text

    old = os.umask(0o027)
    try:
        write_text(tmp_path / "f.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_a_run_recorded_with_the_earlier_digests_stays_up_to_date(tiny_run, tmp_path):
    """Runs recorded before folder digests left logs out (and logs were hashed byte for byte) are not
    retrained for it; a real change is still seen."""
    from unmt.manifest import digest

    run = tmp_path / "copy"
    shutil.copytree(tiny_run, run)
    manifest = json.loads((run / "manifest.json").read_text())
    plan = Runner(load_recipe(TINY), run).plan
    rewritten = 0
    for st in plan:
        for name, path in st.inputs().items():
            old = digest(path, legacy=True)
            rewritten += old != manifest["stages"][st.name]["inputs"][name]
            manifest["stages"][st.name]["inputs"][name] = old
    assert rewritten >= 3  # prepare/bin (preprocess.log) and the train.log compress reads, at least
    (run / "manifest.json").write_text(json.dumps(manifest))
    assert would_run(run) == set()
    with open(run / "prepare" / "bin" / "dict.txt", "a") as f:
        f.write("zzz 1\n")
    assert "pretrain" in would_run(run)


def test_copied_run_folder_stays_up_to_date(tiny_run, tmp_path):
    shutil.copytree(tiny_run, tmp_path / "copy")
    assert would_run(tmp_path / "copy") == set()


@pytest.mark.parametrize("content", ["", "# a recipe still to write\n"])
def test_an_empty_recipe_leaves_a_finished_run_untouched(tiny_run, tmp_path, content):
    before = _snapshot(tiny_run)
    recipe = tmp_path / "empty.yaml"
    recipe.write_text(content)
    r = unmt("run", recipe, "--run-dir", tiny_run, check=False)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "is empty" in r.stderr and str(recipe) in r.stderr
    assert _snapshot(tiny_run) == before

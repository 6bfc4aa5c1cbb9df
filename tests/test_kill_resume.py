"""Kill -9 matrix (slow): for each stage, SIGKILL `unmt run` while that stage runs, run again, and compare
every output with an uninterrupted run of the same seed: checkpoints' weights, hypotheses, code lengths,
logged records and curves. Same-seed CPU runs are bit-identical, so equality is the bar.

    .venv/bin/python -m pytest -m slow tests/test_kill_resume.py
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ROOT, UNMT, unmt
from unmt.fairseq_run import log_records, untimed

pytestmark = pytest.mark.slow
TINY = ROOT / "recipes" / "tests" / "tiny.yaml"
STAGES = ["prepare", "pretrain", "align", "mine", "train", "evaluate", "lms", "compress"]


def checkpoint_weights(path: Path) -> dict:
    import torch

    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = checkpoint_weights(a), checkpoint_weights(b)
    return wa.keys() == wb.keys() and all(bool((wa[k] == wb[k]).all()) for k in wa)


def records(log: Path) -> list:
    return [(name, untimed(rec)) for name, rec in log_records(log)]


def _untimed(x):
    """A results.json without the seconds it took (timing, not a result)."""
    if isinstance(x, dict):
        return {k: _untimed(v) for k, v in x.items() if k not in ("seconds", "elapsed", "training_minutes")}
    if isinstance(x, list):
        return [_untimed(v) for v in x]
    return x


SKIP = {"manifest.json", ".lock", ".started.json", "command.txt", "preprocess.log"}


def outputs(run: Path) -> dict:
    """Every file a run leaves, as compared with an uninterrupted run: bytes, JSON without timings,
    fairseq logs as their records without timings (checkpoints are compared by weights, plots not at all)."""
    out = {}
    for p in sorted(run.rglob("*")):
        if not p.is_file() or p.suffix in (".pt", ".png") or p.name in SKIP:
            continue
        rel = str(p.relative_to(run))
        if p.name == "train.log":
            out[rel] = records(p)
        elif p.name == "spm.model":  # the model file records its training input's path: compare the model
            import sentencepiece as spm

            sp = spm.SentencePieceProcessor(model_file=str(p))
            out[rel] = [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]
        elif p.suffix == ".json":  # the run folder's own path (in "checkpoint" fields) is not a result
            out[rel] = _untimed(json.loads(p.read_text().replace(str(run), "<run>")))
        else:
            out[rel] = p.read_bytes()
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("ref") / "run"
    unmt("run", TINY, "--run-dir", run, "--quiet")
    return run


def kill_during(stage: str, run: Path, poll: float = 0.05, timeout: float = 600) -> None:
    """Start `unmt run` and SIGKILL its whole process group once ``stage`` is running (its folder exists
    and the previous stage is recorded), a moment into its work."""
    proc = subprocess.Popen(UNMT + ["run", str(TINY), "--run-dir", str(run), "--quiet"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    previous = STAGES[STAGES.index(stage) - 1] if stage != "prepare" else None
    started = time.time()
    try:
        while time.time() - started < timeout:
            recorded = {}
            if (run / "manifest.json").exists():
                try:
                    recorded = json.loads((run / "manifest.json").read_text())["stages"]
                except json.JSONDecodeError:
                    pass
            if (run / stage).exists() and (previous is None or previous in recorded):
                time.sleep(0.5 if stage in ("pretrain", "train", "lms") else 0.1)  # into the work
                break
            if proc.poll() is not None:
                raise AssertionError(f"run ended before stage {stage} was caught")
            time.sleep(poll)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.parametrize("stage", STAGES)
def test_kill_during_a_stage_then_resume_equals_an_uninterrupted_run(stage, reference, tmp_path):
    run = tmp_path / "run"
    kill_during(stage, run)
    manifest = json.loads((run / "manifest.json").read_text()) if (run / "manifest.json").exists() else {"stages": {}}
    assert stage not in manifest["stages"]  # no record of a half-done stage
    unmt("run", TINY, "--run-dir", run, "--quiet")
    assert list(json.loads((run / "manifest.json").read_text())["stages"]) == STAGES
    for ck in ("pretrain/checkpoint_last.pt", "train/checkpoint_last.pt", "train/checkpoint_best.pt",
               "lms/lm-joint/checkpoint_last.pt"):
        assert same_weights(run / ck, reference / ck), ck
    ours, theirs = outputs(run), outputs(reference)
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert ours[key] == theirs[key], key


# Loaded by every Python the test's `unmt run` starts (PYTHONPATH): in the fairseq trainer whose --save-dir is
# $HOLD_SAVE_IN, checkpoint save number $HOLD_AT_SAVE (default the first) announces itself in $HOLD_MARKER and
# then waits to be killed, so the kill lands exactly between the validation fairseq logged and the checkpoint
# it was about to write.
HOLD_A_SAVE = """
import importlib.abc, importlib.machinery, os, sys, time

class _HoldFirstSave(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "fairseq.checkpoint_utils":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        run_module = spec.loader.exec_module

        def exec_module(module):
            run_module(module)
            save = module.save_checkpoint

            saves = []

            def held_save(cfg, *args, **kwargs):
                if os.path.abspath(cfg.save_dir) == os.environ["HOLD_SAVE_IN"]:
                    saves.append(1)
                    if len(saves) == int(os.environ.get("HOLD_AT_SAVE", "1")):
                        open(os.environ["HOLD_MARKER"], "w").close()
                        time.sleep(600)
                return save(cfg, *args, **kwargs)

            module.save_checkpoint = held_save

        spec.loader.exec_module = exec_module
        return spec

if os.environ.get("HOLD_SAVE_IN"):
    sys.meta_path.insert(0, _HoldFirstSave())
"""


def kill_at_save(run: Path, save_dir: str, tmp_path: Path, at_save: int = 1, args: tuple = ()) -> None:
    """Run the tiny recipe into ``run`` and SIGKILL it as stage folder ``save_dir`` starts its ``at_save``-th
    checkpoint save (the saves before it written)."""
    hooks, marker = tmp_path / "hooks", tmp_path / "saving"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(HOLD_A_SAVE)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(hooks), os.environ.get("PYTHONPATH", "")]),
               HOLD_SAVE_IN=str(run / save_dir), HOLD_MARKER=str(marker), HOLD_AT_SAVE=str(at_save))
    proc = subprocess.Popen(UNMT + ["run", str(TINY), "--run-dir", str(run), "--quiet", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        started = time.time()
        while not marker.exists():
            assert proc.poll() is None, f"the run ended before {save_dir} saved checkpoint {at_save}"
            assert time.time() - started < 900, f"no checkpoint save in {save_dir} within 15 minutes"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.parametrize("save_dir", ["pretrain", "train", "lms/lm-joint"])
def test_kill_while_the_first_checkpoint_is_written(save_dir, reference, tmp_path):
    """The window the issue found: validation logged, no checkpoint_last.pt yet. The resumed stage starts
    over, its log with it: no validation is counted twice, and every output equals an uninterrupted run's."""
    run = tmp_path / "run"
    kill_at_save(run, save_dir, tmp_path)
    assert not (run / save_dir / "checkpoint_last.pt").exists()
    if save_dir != "pretrain":  # pretraining does not validate: the stages that do had logged it
        assert any(name.startswith("valid") for name, _ in records(run / save_dir / "train.log"))
    unmt("run", TINY, "--run-dir", run, "--quiet")
    log, ref = records(run / save_dir / "train.log"), records(reference / save_dir / "train.log")
    assert log == ref
    validations = [(name, r[f"{name}_num_updates"]) for name, r in log if f"{name}_num_updates" in r]
    assert len(validations) == len(set(validations))  # each validation once
    assert same_weights(run / save_dir / "checkpoint_last.pt", reference / save_dir / "checkpoint_last.pt")
    ours, theirs = outputs(run), outputs(reference)
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert ours[key] == theirs[key], key


def test_kill_right_after_the_last_checkpoint_is_saved(reference, tmp_path):
    """The narrowest window: fairseq wrote the final checkpoint_last.pt, the manifest has no record."""
    run = tmp_path / "run"
    proc = subprocess.Popen(UNMT + ["run", str(TINY), "--run-dir", str(run), "--quiet"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    from unmt.fairseq_run import checkpoint_progress

    try:
        last = run / "pretrain" / "checkpoint_last.pt"
        while proc.poll() is None:
            try:
                if last.exists() and checkpoint_progress(last)[0] >= 12:
                    break
            except Exception:  # caught mid-write
                pass
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert "pretrain" not in json.loads((run / "manifest.json").read_text())["stages"]
    unmt("run", TINY, "--run-dir", run, "--quiet")
    assert checkpoint_progress(run / "pretrain" / "checkpoint_last.pt")[0] == 12  # not one update more
    assert same_weights(run / "pretrain/checkpoint_last.pt", reference / "pretrain/checkpoint_last.pt")
    assert outputs(run) == outputs(reference)


def test_a_training_resumed_from_a_mid_training_checkpoint_ends_as_one_never_killed(tmp_path):
    """A training killed after a checkpoint it saved part-way resumes from that checkpoint, and ends with the
    weights and log of a run never killed, dropout on (a fresh random mask every update): data order, noise,
    back-translations and dropout all follow the update number, not the process's history."""
    from unmt.fairseq_run import checkpoint_progress

    args = ("--set", "model.dropout=0.1", "--until", "train")
    reference = tmp_path / "reference"
    unmt("run", TINY, "--run-dir", reference, "--quiet", *args)
    run = tmp_path / "run"
    kill_at_save(run, "train", tmp_path, at_save=2, args=args)
    resumed_from = checkpoint_progress(run / "train" / "checkpoint_last.pt")[0]
    assert 0 < resumed_from < checkpoint_progress(reference / "train" / "checkpoint_last.pt")[0]
    unmt("run", TINY, "--run-dir", run, "--quiet", *args)
    assert records(run / "train" / "train.log") == records(reference / "train" / "train.log")
    assert same_weights(run / "train" / "checkpoint_last.pt", reference / "train" / "checkpoint_last.pt")

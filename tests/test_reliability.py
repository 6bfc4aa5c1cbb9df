"""Reliability, the last mile: what a kill, a stray file or an odd input must not do."""
from __future__ import annotations

import json
import shutil
import sys

import pytest

from conftest import unmt
from unmt.fairseq_run import log_records, record_updates


TRANSLATE = ["translate", "--run-dir", "{run}", "--src", "en", "--tgt", "fr"]
RECIPE = ["run", "{tmp}/r.yaml", "--run-dir", "{run}"]

# each bad input: the command ({run}: a finished tiny run, {tmp}: a folder holding `files`), the files, and
# what its one line must say
BAD_INPUTS = {
    "empty recipe": (RECIPE, {"r.yaml": b""}, ["r.yaml", "is empty"]),
    "comments-only recipe": (RECIPE, {"r.yaml": b"# a recipe still to write\n"}, ["r.yaml", "is empty"]),
    "recipe without a corpus": (RECIPE, {"r.yaml": b"name: x\npreset: tiny\n"}, ["r.yaml", "does not set corpus"]),
    "recipe that is a list": (RECIPE, {"r.yaml": b"- name: x\n"}, ["r.yaml", "a recipe is a mapping"]),
    "key given twice": (RECIPE, {"r.yaml": b"name: x\ncorpus: c\nname: y\n"}, ["r.yaml", "line 3", "'name' is given twice"]),
    "recipe value out of range": (RECIPE + ["--set", "train.max_update=0"], {"r.yaml": b"preset: tiny\nname: x\ncorpus: c\n"},
                                  ["train.max_update"]),
    "checkpoint of random bytes": (TRANSLATE + ["--checkpoint", "{tmp}/m.pt"], {"m.pt": b"\x00\x01 random \xff" * 40},
                                   ["m.pt", "cannot be read as a fairseq checkpoint"]),
    "checkpoint that is text": (TRANSLATE + ["--checkpoint", "{tmp}/m.pt"], {"m.pt": b"not a checkpoint\n"},
                                ["m.pt", "cannot be read as a fairseq checkpoint"]),
    "missing checkpoint": (TRANSLATE + ["--checkpoint", "{tmp}/none.pt"], {}, ["none.pt", "not found"]),
    "beam 0": (TRANSLATE + ["--beam", "0"], {}, ["'--beam'", "x>=1"]),
    "negative length penalty": (TRANSLATE + ["--beam", "4", "--lenpen", "-1"], {}, ["'--lenpen'", "x>=0"]),
    "length penalty without a beam": (TRANSLATE + ["--beam", "1", "--lenpen", "2"], {}, ["--lenpen", "--beam"]),
    "source = target": (["translate", "--run-dir", "{run}", "--src", "en", "--tgt", "en"], {}, ["both 'en'"]),
    "unknown language": (["translate", "--run-dir", "{run}", "--src", "en", "--tgt", "xx"], {}, ["'xx'", "en,fr"]),
    "input not UTF-8": (TRANSLATE + ["-i", "{tmp}/in.txt"], {"in.txt": b"caf\xe9\n"}, ["in.txt", "UTF-8"]),
    "missing input": (TRANSLATE + ["-i", "{tmp}/absent.txt"], {}, ["absent.txt"]),
    "unknown option": (TRANSLATE + ["--bean", "4"], {}, ["--bean"]),
    "no words to map": (["induce-lexicon", "--src-vec", "{tmp}/s.vec", "--tgt-vec", "{tmp}/s.vec", "--out", "{tmp}/o",
                         "--max-words", "0"], {"s.vec": b"1 2\na 0.1 0.2\n"}, ["'--max-words'", "x>=1"]),
    "negative mining threshold": (["mine-files", "--run-dir", "{run}", "--src", "en", "--tgt", "fr", "--out", "{tmp}/m.tsv",
                                   "--threshold", "-1"],
                                  {}, ["'--threshold'", "x>=0"]),
}


def _snapshot(run) -> dict:
    return {str(p.relative_to(run)): (p.stat().st_size, p.stat().st_mtime_ns) for p in run.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_and_leaves_a_finished_run_untouched(case, tiny_run, tmp_path):
    args, files, needles = BAD_INPUTS[case]
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    before = _snapshot(tiny_run)
    r = unmt(*[a.format(run=tiny_run, tmp=tmp_path) for a in args], input="hello\n", check=False)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert all(n in lines[0] for n in needles), (needles, lines[0])
    assert r.stdout == ""
    assert _snapshot(tiny_run) == before


def test_an_overlong_input_line_is_translated_and_said_to_be_cut(tiny_run):
    long_line = " ".join(["Click"] * 5000)
    r = unmt("translate", "--run-dir", tiny_run, "--src", "en", "--tgt", "fr", input=f"Save the file.\n{long_line}\n")
    assert len(r.stdout.splitlines()) == 2
    assert "1 of 2 input lines had more than 250 pieces" in r.stderr


def test_a_stage_killed_before_its_first_checkpoint_logs_each_validation_once(tiny_run, tmp_path):
    """Killed while fairseq wrote its first checkpoint: validation logged, no checkpoint_last.pt. The resumed
    stage starts over, and its log with it, so no validation is counted twice (curves, compress results)."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["stages"].pop("train")  # no record: killed before it finished
    (run / "manifest.json").write_text(json.dumps(manifest))
    for ckpt in (run / "train").glob("checkpoint_*.pt"):
        ckpt.unlink()
    before = [(name, record_updates(rec)) for name, rec in log_records(run / "train" / "train.log")]
    assert any(name == "valid" for name, _ in before)  # the dead attempt's log has validations
    r = unmt("run", "recipes/tests/tiny.yaml", "--run-dir", run, "--until", "train", "--quiet")
    assert "[train] resuming" in r.stdout
    after = [(name, record_updates(rec)) for name, rec in log_records(run / "train" / "train.log")]
    assert after == before  # each record once, as in the uninterrupted run


def test_a_stage_its_safety_net_cut_is_not_up_to_date_and_resumes_to_its_budget(tmp_path):
    run = tmp_path / "run"
    args = ("run", "recipes/tests/tiny.yaml", "--run-dir", run, "--until", "pretrain", "--quiet",
            "--set", "pretrain.max_minutes=0.01", "--set", "pretrain.max_update=40")

    def pretrain_result():
        return json.loads((run / "manifest.json").read_text())["stages"]["pretrain"]["result"]

    unmt(*args)
    first = pretrain_result()
    if first["stopped_by"] != "time limit":
        pytest.skip("this machine trains 40 tiny updates within 0.6 s: nothing to cut")
    dry = unmt(*args, "--dry-run").stdout
    assert "cut by its max_minutes safety net" in next(l for l in dry.splitlines() if l.startswith("pretrain"))
    r = unmt(*args)
    assert "[pretrain] resuming (cut by its max_minutes safety net" in r.stdout
    assert pretrain_result()["updates"] > first["updates"]  # went on from its checkpoint, not from scratch


class _CreatesAFile:
    """What a hostile checkpoint can hold: unpickling it calls open(path, "w")."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")


def test_a_checkpoint_that_would_run_code_on_load_is_refused(tiny_run, tmp_path):
    import torch

    marker = tmp_path / "created-on-load"
    state = torch.load(tiny_run / "train" / "checkpoint_last.pt", map_location="cpu", weights_only=False)  # ours
    state["extra_state"]["payload"] = _CreatesAFile(str(marker))
    evil = tmp_path / "evil.pt"
    torch.save(state, evil)
    assert not marker.exists()
    for command in (["translate", "--run-dir", tiny_run, "--src", "en", "--tgt", "fr", "--checkpoint", evil],
                    ["mine-files", "--run-dir", tiny_run, "--src", "en", "--tgt", "fr", "--encoder", "model",
                     "--checkpoint", evil, "--out", tmp_path / "mined.tsv"]):
        r = unmt(*command, input="hello\n", check=False)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        assert r.returncode == 2 and len(lines) == 1 and "refused" in lines[0] and str(evil) in lines[0], r.stderr
    assert not marker.exists()
    from unmt.errors import UnmtError
    from unmt.fairseq_run import checkpoint_progress

    with pytest.raises(UnmtError, match="refused"):
        checkpoint_progress(evil)  # what resuming a stage reads
    assert not marker.exists()
    assert checkpoint_progress(tiny_run / "train" / "checkpoint_last.pt")[0] > 0  # our own files still load


def test_the_sentencepiece_model_is_the_same_bytes_in_any_run_folder(tmp_path):
    """spm.model once recorded a random scratch folder's path, so every identical re-prepare changed its
    sha256 and with it every later stage's input digest."""
    import hashlib

    digests = []
    for name in ("a", "b/deeper"):
        run = tmp_path / name / "run"
        unmt("prepare", "recipes/tests/tiny.yaml", "--run-dir", run, "--quiet")
        digests.append(hashlib.sha256((run / "prepare" / "spm.model").read_bytes()).hexdigest())
        assert not list((run / "prepare").glob(".spm-input*"))  # the scratch folder is gone
    assert digests[0] == digests[1]


def _trainers_in(folder) -> list[int]:
    """Pids of fairseq trainers whose command line names ``folder`` (as --save-dir)."""
    import os

    pids = []
    for d in os.listdir("/proc"):
        try:
            cmd = open(f"/proc/{d}/cmdline", "rb").read().split(b"\0")
        except (OSError, ValueError):
            continue
        if b"fairseq_cli.train" in cmd and str(folder).encode() in cmd:
            pids.append(int(d))
    return pids


def test_a_runner_killed_alone_takes_its_trainer_with_it(tmp_path):
    """`kill -9` of the unmt process only (not its group, as a job scheduler or a stray `kill PID` may do):
    fairseq must not train on alone, or the next run trains a second copy into the same folder (seen)."""
    import fcntl
    import os
    import signal
    import subprocess
    import time

    from conftest import ROOT, UNMT

    run = tmp_path / "run"
    # a pretraining long enough to outlive the checks (it logs rarely: fairseq ignores a closed stdout until then)
    proc = subprocess.Popen(UNMT + ["run", "recipes/tests/tiny.yaml", "--run-dir", str(run), "--quiet",
                                    "--set", "pretrain.max_update=100000"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 300
        while not _trainers_in(run / "pretrain") and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        trainers = _trainers_in(run / "pretrain")
        assert trainers, "pretrain's trainer never started"
        time.sleep(2)  # into its updates
        os.kill(proc.pid, signal.SIGKILL)  # the runner alone
        proc.wait()
        deadline = time.time() + 10
        while _trainers_in(run / "pretrain") and time.time() < deadline:  # a dead one's cmdline is empty
            time.sleep(0.1)
        assert not _trainers_in(run / "pretrain"), "fairseq trains on after its runner was killed"
        assert (run / "pretrain").exists() and not (run / "pretrain" / "checkpoint_last.pt").exists()
        # and the run folder is free for the resume, once the exit finishes: the kernel empties a dying
        # process's cmdline (its memory) before it closes its files, the lock among them
        deadline, free = time.time() + 10, False
        with open(run / ".lock", "a+") as f:
            while not free and time.time() < deadline:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    free = True
                except BlockingIOError:
                    time.sleep(0.1)
        assert free, "the run folder is still locked 10 s after its runner and trainer died"
    finally:
        for pid in _trainers_in(run / "pretrain"):  # without the fix, the trainer is in no group of ours
            os.kill(pid, signal.SIGKILL)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# a torchrun worker: rank 0 says fairseq's last line (or not), then every worker aborts as gloo's threads can
# at interpreter exit
_ABORTING_WORKER = """
import os, sys
if os.environ["RANK"] == "0" and sys.argv[1] == "trained":
    print("2026-12-04 07:41:09 | INFO | fairseq_cli.train | done training in 1.6 seconds", flush=True)
os.abort()
"""


@pytest.mark.parametrize("trained", [True, False], ids=["after training", "before training ends"])
def test_a_torchrun_worker_that_aborts(trained, tmp_path, monkeypatch):
    from unmt import fairseq_run
    from unmt.errors import UnmtError

    worker = tmp_path / "worker.py"
    worker.write_text(_ABORTING_WORKER)
    monkeypatch.setattr(fairseq_run, "launcher", lambda nproc: [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(worker),
        "trained" if trained else "not"])
    save_dir = tmp_path / "train"
    save_dir.mkdir()
    if trained:
        fairseq_run.checkpoint_in(save_dir).write_bytes(b"saved")  # what fairseq saved before the abort
    launch = lambda: fairseq_run._launch(tmp_path, save_dir, [], None, fairseq_run.Progress("train", 6, 0, quiet=True),
                                         None, 2, "fp32")
    if trained:  # torchrun's report of the abort runs past any short tail; the stage is done all the same
        launch()
        assert "ChildFailedError" in fairseq_run.train_log_in(save_dir).read_text()
    else:
        with pytest.raises(UnmtError) as e:
            launch()
        assert "fairseq training failed: worker rank " in str(e.value) and "(SIGABRT)" in str(e.value)

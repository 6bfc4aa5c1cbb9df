"""The same recipe on the same machine writes the same bytes (slow): two tiny runs in different folders
agree on every file but a short, named list of logs and timings; re-running an early stage that gives the
same outputs leaves every later stage up to date.

    .venv/bin/python -m pytest -m slow tests/test_reproducible.py
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import ROOT, unmt

pytestmark = pytest.mark.slow
TINY = ROOT / "recipes" / "tests" / "tiny.yaml"

# every file allowed to differ, and why: what the clock, the process or the folder's path wrote
LOGS_AND_TIMINGS = {
    "manifest.json": "when each stage ran and for how long (its records are otherwise equal)",
    ".lock": "the id of the process that held the run",
    "train.log": "fairseq's training log: speeds, times and the run folder's paths",
    "preprocess.log": "fairseq-preprocess's log: its arguments, with the run folder's paths",
    "command.txt": "the fairseq command line that ran, with the run folder's paths",
    "*.timings.json": "seconds measured while making the results beside them",
}


def may_differ(path: Path) -> bool:
    return path.name in LOGS_AND_TIMINGS or path.name.endswith(".timings.json")


def files(run: Path) -> dict[str, Path]:
    return {str(p.relative_to(run)): p for p in sorted(run.rglob("*")) if p.is_file()}


def untimed_manifest(run: Path) -> dict:
    data = json.loads((run / "manifest.json").read_text())
    for rec in data["stages"].values():
        for key in ("started", "seconds"):
            rec.pop(key)
        (rec.get("result") or {}).pop("training_minutes", None)
    return data


@pytest.fixture(scope="module")
def twins(tmp_path_factory) -> tuple[Path, Path]:
    a = tmp_path_factory.mktemp("a") / "run"
    b = tmp_path_factory.mktemp("elsewhere") / "deeper" / "other-name"
    for run in (a, b):
        unmt("run", TINY, "--run-dir", run, "--quiet")
    return a, b


def test_two_identical_runs_write_identical_files_but_logs_and_timings(twins):
    a, b = twins
    fa, fb = files(a), files(b)
    assert fa.keys() == fb.keys()
    checked = [rel for rel, p in fa.items() if not may_differ(p)]
    differ = [rel for rel in checked if fa[rel].read_bytes() != fb[rel].read_bytes()]
    assert differ == [], differ
    # the checkpoints, the SentencePiece model and the results are among the files compared
    assert {"prepare/spm.model", "pretrain/checkpoint_last.pt", "train/checkpoint_best.pt",
            "lms/lm-joint/checkpoint_last.pt", "evaluate/results.json", "compress/results.json"} <= set(checked)
    assert untimed_manifest(a) == untimed_manifest(b)  # the manifest differs in its clock readings only
    assert len(LOGS_AND_TIMINGS) <= 6


def test_an_identical_rerun_of_an_early_stage_leaves_later_stages_up_to_date(twins):
    a, _ = twins
    before = {rel: p.read_bytes() for rel, p in files(a).items() if p.suffix in (".pt", ".model", ".json")
              and not may_differ(p)}
    for stage in ("prepare", "pretrain"):
        unmt(stage, TINY, "--run-dir", a, "--force", "--quiet")
        r = unmt("run", TINY, "--run-dir", a, "--dry-run")
        stale = [line for line in r.stdout.splitlines() if line.strip() and "up to date" not in line]
        assert stale == [], f"after re-running {stage}:\n{r.stdout}"
    after = {rel: p.read_bytes() for rel, p in files(a).items() if rel in before}
    assert after == before

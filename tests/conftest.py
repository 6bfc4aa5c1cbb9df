"""Shared fixtures: one real run of the tiny recipe (every stage, real fairseq/faiss/sacrebleu) per session."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpora" / "libreoffice-en-fr"
UNMT = [sys.executable, "-m", "unmt.cli"]

os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
# every `unmt` the tests start fails a stage that opens a file of its run it did not declare (unmt/runner.py)
os.environ["UNMT_STRICT_READS"] = "1"
# pytest-xdist runs files side by side (setup.cfg): each worker gets its share of the cores' OpenMP threads,
# inherited by every training it starts, so two trainings never fight over the same cores
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    workers = int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))


def unmt(*args, cwd=ROOT, check=True, **kw):
    r = subprocess.run(UNMT + [str(a) for a in args], cwd=cwd, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"unmt {' '.join(map(str, args))} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("tiny") / "run"
    r = unmt("run", "recipes/tests/tiny.yaml", "--run-dir", run_dir, "--quiet")
    (run_dir / "run_stdout.txt").write_text(r.stdout)
    return run_dir

"""The run directory's ``manifest.json``: one record per finished stage (inputs by name with sha256,
outputs, config slice, versions, time). A stage is up to date when its outputs exist and its declared
inputs and config are unchanged; a stage that was killed has no record and is run again.

Inputs are keyed by artifact name (``train.en``, ``checkpoint``), not by path, so a run folder that is
copied or moved stays up to date, and only what a file *contains* decides whether it changed.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

from unmt.config import config_changes
from unmt.errors import fail
from unmt.io import sha256_file, write_json
from unmt.layout import RunLayout


def versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("unmt", "torch", "fairseq-fixed", "faiss-cpu", "sentencepiece", "sacrebleu", "numpy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    commit = code_commit()
    if commit:
        out["unmt_commit"] = commit
    return out


def code_commit() -> str | None:
    """The commit of the unmt checkout that ran (``+changes`` if its tracked files differ from it): two runs
    of one recipe that differ can then be told apart by their code. None outside a git checkout."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+changes" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def machine() -> dict:
    """Where a stage ran, so that its minutes can be read beside another machine's: the CPU's model name, the
    cores this process may use, and the GPU if torch sees one."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()  # not on macOS
    out = {"cpu": platform.processor() or platform.machine(), "cores": cores}
    try:
        names = [l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                 if l.startswith("model name")]
        out["cpu"] = names[0] if names else out["cpu"]
    except OSError:
        pass
    torch = sys.modules.get("torch")  # imported by any stage that trains; a stage that did not used no GPU
    if torch is not None and torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(0)
    return out


def machine_name(m: dict) -> str:
    return f"{m['cpu']}, {m['cores']} cores" + (f", {m['gpu']}" if m.get("gpu") else "")


# a folder's files that record how it was made, not what it holds: left out of its digest (fairseq-preprocess
# writes its arguments, with the run folder's path, into preprocess.log)
NOT_CONTENT = (".log", ".timings.json")


def digest(path: Path, legacy: bool = False) -> str:
    """sha256 of a file, or of a folder's files (relative names and contents, in sorted order, logs and
    timings left out). ``legacy``: as runs recorded before 2026-12 (every file, logs byte for byte), so
    their stages stay up to date."""
    path = Path(path)
    if not path.exists():
        return "absent"  # an optional input (Stage.optional_inputs) that is not there
    if path.suffix == ".log" and not legacy:  # a fairseq log read for its records (curves): see log_digest
        from unmt.fairseq_run import log_digest

        return log_digest(path)
    if not path.is_dir():
        return sha256_file(path)
    h = hashlib.sha256()
    for f in sorted(x for x in path.rglob("*") if x.is_file()
                    and (legacy or not x.name.endswith(NOT_CONTENT))):
        h.update(f"{f.relative_to(path)}\0{sha256_file(f)}\n".encode())
    return "dir:" + h.hexdigest()


def fingerprint(inputs: dict[str, Path]) -> dict[str, str]:
    return {name: digest(p) for name, p in sorted(inputs.items())}


class Manifest:
    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.path = RunLayout(run_dir).manifest
        try:
            self.data = json.loads(self.path.read_text()) if self.path.exists() else {"stages": {}}
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise fail(self.path, "is not valid JSON", "restore it, or delete the run folder to start over") from None

    def record_of(self, stage: str) -> dict | None:
        return self.data["stages"].get(stage)

    def why_stale(self, stage: str, digests: dict[str, str], config: dict, outputs: dict[str, Path],
                  inputs: dict[str, Path] | None = None) -> str | None:
        """None if ``stage`` is up to date, else the reason it must run (``digests``: its inputs' fingerprint)."""
        rec = self.record_of(stage)
        if not rec:
            return "no record of a finished run"
        changed = config_changes(rec.get("config", {}), config)
        if changed:
            return f"config changed ({', '.join(changed)})"
        missing = [n for n, p in outputs.items() if not Path(p).exists()]
        if missing:
            return f"output missing ({', '.join(missing)})"
        old = rec.get("inputs", {})
        changed = [n for n in sorted(set(digests) | set(old)) if digests.get(n) != old.get(n)
                   and not (inputs and n in inputs and digest(inputs[n], legacy=True) == old.get(n))]
        if changed:
            return f"input changed ({', '.join(changed)})"
        return cut_short(rec)

    def record(self, stage: str, digests: dict[str, str], outputs: dict[str, Path], config: dict,
               started: float, result: dict | None = None) -> None:
        self.data["stages"][stage] = {
            "inputs": digests,
            "outputs": {n: str(Path(p).relative_to(self.run_dir)) for n, p in outputs.items()},
            "config": config, "versions": versions(), "machine": machine(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
            "seconds": round(time.time() - started, 1),
            **({"result": {k: RunLayout(self.run_dir).in_run(v) if k == "checkpoint" else v for k, v in result.items()}}
               if result else {}),
        }
        self.save()

    def forget(self, stage: str) -> None:
        if self.data["stages"].pop(stage, None) is not None:
            self.save()

    def save(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_json(self.path, self.data)


def stage_minutes(rec: dict) -> float:
    """The minutes a recorded stage took. Its ``seconds`` time only the attempt that finished it; a fairseq
    stage resumed after a kill also trained in the attempts before, and fairseq keeps that training time in
    its checkpoint (the result's ``training_minutes``), so the larger of the two counts. A resumed stage's
    earlier start-ups and the updates it trained again after its last checkpoint are left out: this is what
    the stage takes run once, without the kill."""
    return max(rec.get("seconds", 0) / 60, float((rec.get("result") or {}).get("training_minutes", 0)))


def cut_short(rec: dict | None) -> str | None:
    """Why a recorded fairseq stage is not done although it finished: its max_minutes safety net stopped it
    before its update budget (it resumes from its last checkpoint to the budget)."""
    result = (rec or {}).get("result") or {}
    if result.get("stopped_by") != "time limit":
        return None
    return (f"cut by its max_minutes safety net at {result.get('updates', '?')} updates, before the update "
            "budget: resumes from its last checkpoint")


def under_way(run_dir: Path, recorded: dict) -> list[str]:
    """The stages of a run folder that started (the runner's start marker is in their folder) and have no
    record among ``recorded`` (its manifest's stages): running now, or killed. A run resumed after its safety
    net cut it keeps its later stages' old results meanwhile."""
    run_dir, layout = Path(run_dir), RunLayout(run_dir)
    if not run_dir.is_dir():
        return []
    return [d.name for d in sorted(run_dir.iterdir())
            if d.is_dir() and d.name not in recorded and layout.started(d.name).exists()]

"""The run directory's ``manifest.json``: one record per stage (inputs with sha256, outputs, config,
versions, time). A stage is skipped when its outputs exist and its inputs and config are unchanged,
so any stage can be rerun alone and ``unmt run`` resumes where it stopped."""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path

from unmt.io import sha256_file, write_json


def versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("unmt", "torch", "fairseq-fixed", "faiss-cpu", "sentencepiece", "sacrebleu", "numpy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def fingerprint(paths) -> dict[str, str]:
    out = {}
    for p in paths:
        p = Path(p)
        files = sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p]
        for f in files:
            out[str(f)] = sha256_file(f)
    return out


class Manifest:
    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / "manifest.json"
        self.data = json.loads(self.path.read_text()) if self.path.exists() else {"stages": {}}

    def is_current(self, stage: str, inputs, config: dict) -> bool:
        rec = self.data["stages"].get(stage)
        if not rec or rec.get("config") != config:
            return False
        if not all(Path(o).exists() for o in rec.get("outputs", [])):
            return False
        return rec.get("inputs") == fingerprint(inputs)

    def record(self, stage: str, inputs, outputs, config: dict, started: float, extra: dict | None = None):
        self.data["stages"][stage] = {
            "inputs": fingerprint(inputs), "outputs": [str(o) for o in outputs], "config": config,
            "versions": versions(), "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
            "seconds": round(time.time() - started, 1), **(extra or {}),
        }
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_json(self.path, self.data)

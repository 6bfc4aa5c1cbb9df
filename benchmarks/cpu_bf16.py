"""Training speed on this CPU: the same UNMT updates in fp32 and in bf16 autocast (``precision: bf16``),
measured in one run, with the ratio and both runs' losses (mixed precision must not change them much).

Each run restores the run's trained translation model (else its pretrained LM) into a fresh directory
and trains ``--updates`` updates of the recipe's train stage, validation off: once with the objectives
of its later phase (denoising, back-translation both ways, mined pairs) and once denoising only (what
pretraining does). Speed is fairseq's own ``train_wall``; back-translation's greedy decoding is the part
autocast does not speed up.

    .venv/bin/python benchmarks/cpu_bf16.py [--recipe recipes/default.yaml] [--run-dir runs/default] [--updates 50]
"""
from __future__ import annotations

import argparse
import copy
import tempfile
from pathlib import Path

from unmt.config import load_recipe
from unmt.fairseq_run import log_records
from unmt.layout import RunLayout
from unmt.plugin.cpu_bf16 import cpu_bf16_supported
from unmt.train import train


def last_epoch_record(log: Path) -> dict:
    """fairseq's end-of-training summary (JSON record "train"; its keys carry the "train_" prefix)."""
    return [rec for name, rec in log_records(log) if name == "train"][-1]


PHASES = {  # train-stage overrides
    "UNMT (DAE+BT+mined)": {"lambda_bt": "1", "lambda_dae": "0.3", "lambda_warm": "0", "warm_start": "mined"},
    "denoising only": {"lambda_bt": "0", "lambda_dae": "1", "warm_start": "none"},
}


def timed_updates(cfg, run_dir: Path, scratch: Path, precision: str, updates: int, phase: dict) -> dict:
    cfg = copy.deepcopy(cfg)
    cfg.precision = precision
    from unmt.config import pair_list

    t = cfg.train
    t.max_update, t.max_minutes, t.validate_interval_updates = updates, None, 0
    for k, v in phase.items():
        setattr(t, k, v)
    run = RunLayout(run_dir)
    start = next(p for p in (run.checkpoint("train"), run.checkpoint("pretrain")) if p.exists())
    # a scratch run that shares the run's prepared data and lexicon, and trains into its own folder
    layout = RunLayout(scratch)
    for stage in ("prepare", "align"):
        if not layout.dir(stage).exists():
            layout.root.mkdir(parents=True, exist_ok=True)
            layout.dir(stage).symlink_to(run.dir(stage).resolve())
    name = f"train-{precision}"
    train(cfg, layout, name, start, quiet=True, mined_tsv={(a, b): run.mined("mine", a, b) for a, b in pair_list(cfg)})
    end = last_epoch_record(layout.train_log(name))
    return {"seconds": float(end["train_train_wall"]), "loss": float(end["train_loss"]),
            "bf16": "--cpu-bf16" in layout.command(name).read_text().split()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="recipes/default.yaml")
    ap.add_argument("--run-dir", default="runs/default", type=Path)
    ap.add_argument("--updates", default=50, type=int)
    a = ap.parse_args()
    if not (a.run_dir / "pretrain/checkpoint_last.pt").exists():
        raise SystemExit(f"{a.run_dir}: no pretrained model -- run `unmt run {a.recipe}` up to its mine stage first")
    print(f"native bf16 on this CPU: {cpu_bf16_supported()}")
    cfg = load_recipe(a.recipe)
    for name, phase in PHASES.items():
        with tempfile.TemporaryDirectory() as tmp:
            r = {p: timed_updates(cfg, a.run_dir, Path(tmp), p, a.updates, phase) for p in ("fp32", "bf16")}
        for p, m in r.items():
            print(f"{name:20s} {p:5s} {a.updates} updates {m['seconds']:7.1f} s  {m['seconds'] / a.updates:5.2f} s/update"
                  f"  train loss {m['loss']:.3f}  (--cpu-bf16 on: {m['bf16']})")
        print(f"{name:20s} speed-up bf16 autocast / fp32: x{r['fp32']['seconds'] / r['bf16']['seconds']:.2f}")


if __name__ == "__main__":
    main()

"""Launch ``fairseq_cli.train`` with our plugin, stream its log, resume from ``checkpoint_last.pt``.

Both the pretraining and the translation stage are this one call with different flags, so a reader
sees the exact fairseq command line (it is also written to ``<stage>/command.txt``).
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from unmt.errors import UnmtError

PLUGIN = Path(__file__).parent / "plugin"


def model_args(m) -> list[str]:
    """A shared-everything transformer: one encoder, one decoder, one embedding table for all languages."""
    return ["--arch", "transformer", "--share-all-embeddings",
            "--encoder-layers", str(m.layers), "--decoder-layers", str(m.layers),
            "--encoder-embed-dim", str(m.dim), "--decoder-embed-dim", str(m.dim),
            "--encoder-ffn-embed-dim", str(m.ffn_dim), "--decoder-ffn-embed-dim", str(m.ffn_dim),
            "--encoder-attention-heads", str(m.heads), "--decoder-attention-heads", str(m.heads),
            "--dropout", str(m.dropout), "--attention-dropout", str(m.dropout),
            "--max-source-positions", "256", "--max-target-positions", "256"]


def precision_args(precision: str) -> list[str]:
    """fairseq's --bf16/--fp16 on a GPU. On a CPU, bf16 is our tasks' ``--cpu-bf16`` (autocast in training
    steps) where the CPU has native bf16 kernels, else fp32 (emulated bf16 is slower); fp16 stays fp32.
    ``load_recipe`` has already rejected any other value (config.Precision)."""
    import torch

    from unmt.plugin.cpu_bf16 import cpu_bf16_supported

    if precision not in ("bf16", "fp16"):
        return []
    if not torch.cuda.is_available():
        return ["--cpu-bf16"] if precision == "bf16" and cpu_bf16_supported() else []
    return ["--bf16"] if precision == "bf16" else ["--fp16"]


def optim_args(lr, warmup, max_tokens, update_freq, seed) -> list[str]:
    return ["--optimizer", "adam", "--adam-betas", "(0.9,0.98)", "--clip-norm", "1.0",
            "--lr", str(lr), "--lr-scheduler", "inverse_sqrt", "--warmup-updates", str(warmup),
            "--warmup-init-lr", "1e-7",
            "--max-tokens", str(max_tokens), "--update-freq", str(update_freq),
            "--criterion", "label_smoothed_cross_entropy", "--label-smoothing", "0.1", "--seed", str(seed)]


def checkpoint_progress(checkpoint: Path | None) -> tuple[int, float]:
    """(updates, training seconds) stored in a fairseq checkpoint; (0, 0) if there is none.
    fairseq's --stop-time-hours counts the stored seconds too."""
    if checkpoint is None or not Path(checkpoint).exists():
        return 0, 0.0
    import torch

    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    history = state.get("optimizer_history") or [{}]
    return int(history[-1].get("num_updates", 0)), float((state.get("extra_state") or {}).get("previous_training_time", 0.0))


def log_records(train_log: Path):
    """(logger name, {field: value}) for every JSON record fairseq wrote (``--log-format json``):
    ``train_inner`` every ``--log-interval`` updates, ``train`` per epoch, and one per validation subset
    named after the subset, its keys prefixed with it (``valid_loss``, ``valid_num_updates``)."""
    if not Path(train_log).exists():
        return
    for line in Path(train_log).read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split(" | ", 3)
        if len(parts) == 4 and parts[3].startswith("{"):
            try:
                yield parts[2], json.loads(parts[3])
            except json.JSONDecodeError:
                continue  # a line cut short by a kill


def _record_update(line: str) -> int | None:
    parts = line.split(" | ", 3)
    if len(parts) == 4 and parts[3].startswith("{"):
        try:
            rec = json.loads(parts[3])
        except json.JSONDecodeError:
            return -1  # cut short by a kill: drop it
        for k, v in rec.items():
            if k.endswith("num_updates"):
                return int(float(v))
    return None


def truncate_log(train_log: Path, updates: int) -> None:
    """Drop what a killed run logged after the checkpoint it resumes from, so the resumed run's records
    (losses, validations, curves) follow on as those of an uninterrupted run would."""
    if not train_log.exists():
        return
    lines = train_log.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    kept = [l for l in lines if (u := _record_update(l)) is None or 0 <= u <= updates]
    if len(kept) != len(lines):
        from unmt.io import write_text

        write_text(train_log, "".join(kept))


def launcher(nproc: int) -> list[str]:
    """``python -m fairseq_cli.train``, or ``torchrun`` with ``nproc`` data-parallel workers (gloo on CPU,
    NCCL on GPUs). legacy_ddp all-reduces once per update, after all of a step's losses (DAE, BT, warm,
    mined) are backpropagated, so workers whose batches differ in kind never wait on each other."""
    # several nodes: torchrun's own rendezvous flags replace --standalone (docs/scale.md, "Several nodes")
    nodes = os.environ.get("UNMT_TORCHRUN")
    if nproc <= 1 and not nodes:
        return [sys.executable, "-m", "fairseq_cli.train"]
    import torch

    backend = "nccl" if torch.cuda.is_available() and torch.cuda.device_count() >= nproc else "gloo"
    return [sys.executable, "-m", "torch.distributed.run", *(shlex.split(nodes) if nodes else ["--standalone"]),
            "--nproc_per_node", str(nproc),
            "-m", "unmt.fairseq_launch", "--distributed-backend", backend, "--ddp-backend", "legacy_ddp"] + \
        (["--cpu"] if backend == "gloo" else [])


def default_save_interval(max_update: int) -> int:
    """A checkpoint every 100 updates (short runs: every quarter), so a killed stage loses little. fairseq
    also validates at every mid-epoch save: a stage that validates saves at its validation interval."""
    return min(100, max(1, max_update // 4))


def run_fairseq_train(data: Path, save_dir: Path, args: list[str], max_update: int, restore: Path | None = None,
                      quiet: bool = False, max_minutes: float | None = None, nproc: int = 1,
                      precision: str = "fp32", save_every: int | None = None) -> dict:
    """Train into ``save_dir`` for ``max_update`` updates; resume there if a previous run was killed, else
    start from ``restore``. ``max_minutes`` is a safety net on this stage's own training time, also when
    resuming or restoring (fairseq measures --stop-time-hours on the time stored in the checkpoint it
    started from); the result says whether it cut the stage.

    Returns {checkpoint, updates, stopped_by: max_update | time limit, training_minutes}.
    """
    save_dir.mkdir(parents=True, exist_ok=True)
    last = save_dir / "checkpoint_last.pt"
    _, start_seconds = checkpoint_progress(restore)  # a restored model's time counts: see above
    budget = start_seconds + 60 * max_minutes if max_minutes else None
    done_updates, done_seconds = checkpoint_progress(last)
    log_path = save_dir / "train.log"
    finished = last.exists() and (done_updates >= max_update or (budget is not None and done_seconds >= budget))
    if not finished:  # a finished checkpoint is not trained again: fairseq would take one more step
        if last.exists():
            truncate_log(log_path, done_updates)
        every = save_every or default_save_interval(max_update)
        _launch(data, save_dir, args + ["--max-update", str(max_update), "--save-interval-updates", str(every)],
                restore, quiet, budget, nproc, precision)
    updates, seconds = checkpoint_progress(last)
    return {"checkpoint": str(last), "updates": updates,
            "stopped_by": "max_update" if updates >= max_update else "time limit",
            "training_minutes": round((seconds - start_seconds) / 60, 1)}


def _launch(data, save_dir, args, restore, quiet, budget, nproc, precision) -> None:
    if budget:
        args = args + ["--stop-time-hours", f"{budget / 3600:.4f}"]
    last = save_dir / "checkpoint_last.pt"
    resume = []
    if not last.exists() and restore is not None:
        resume = ["--restore-file", str(restore), "--reset-optimizer", "--reset-dataloader",
                  "--reset-meters", "--reset-lr-scheduler"]
    args = args + precision_args(precision)
    cmd = launcher(nproc) + [str(data), "--user-dir", str(PLUGIN),
           "--save-dir", str(save_dir), "--num-workers", "0", "--log-format", "json", "--log-interval", "25",
           "--no-epoch-checkpoints", "--keep-interval-updates", "1",
           "--skip-invalid-size-inputs-valid-test"] + args + resume
    from unmt.io import write_text

    write_text(save_dir / "command.txt", shlex.join(cmd) + "\n")
    env = dict(os.environ, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1", PYTHONWARNINGS="ignore", PYTHONUNBUFFERED="1",
               OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // max(1, nproc)))))
    log_path = save_dir / "train.log"
    tail: list[str] = []
    with open(log_path, "a", encoding="utf-8") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        try:
            for line in proc.stdout:
                log.write(line)
                log.flush()
                tail = (tail + [line.rstrip()])[-20:]
                if not quiet and (" | INFO | " in line and any(f" | {k}" in line for k in ("train_inner |", "valid", "done training"))
                                  or "Error" in line):
                    print(line.rstrip()[:300], flush=True)
            rc = proc.wait()
        finally:  # interrupted (Ctrl-C, SIGTERM): never leave a trainer running on its own
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
    if rc != 0:
        for tmp in save_dir.glob("*.pt.tmp"):  # fairseq's half-written checkpoint (full disk, killed mid-save)
            tmp.unlink()
        err = next((l for l in reversed(tail) if "Error" in l), tail[-1] if tail else f"exit code {rc}")
        raise UnmtError(f"{log_path}: fairseq training failed: {err.strip()[:300]} -- see the log for the full trace")
    if not last.exists():
        raise UnmtError(f"{last}: fairseq exited without writing a checkpoint -- see {log_path}")

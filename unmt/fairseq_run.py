"""Launch ``fairseq_cli.train`` with our plugin, stream its log, resume from ``checkpoint_last.pt``.

Both the pretraining and the translation stage are this one call with different flags, so a reader
sees the exact fairseq command line (it is also written to ``<stage>/command.txt``).
"""
from __future__ import annotations

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
    ``load_recipe`` has already rejected any other value."""
    import torch

    from unmt.plugin.cpu_bf16 import cpu_bf16_supported

    if precision not in ("bf16", "fp16"):
        return []
    if not torch.cuda.is_available():
        return ["--cpu-bf16"] if precision == "bf16" and cpu_bf16_supported() else []
    return ["--bf16"] if precision == "bf16" else ["--fp16"]


def optim_args(lr, warmup, max_tokens, update_freq, max_update, seed) -> list[str]:
    return ["--optimizer", "adam", "--adam-betas", "(0.9,0.98)", "--clip-norm", "1.0",
            "--lr", str(lr), "--lr-scheduler", "inverse_sqrt", "--warmup-updates", str(warmup),
            "--warmup-init-lr", "1e-7",
            "--max-tokens", str(max_tokens), "--update-freq", str(update_freq), "--max-update", str(max_update),
            "--criterion", "label_smoothed_cross_entropy", "--label-smoothing", "0.1", "--seed", str(seed)]


def previous_training_seconds(checkpoint: Path | None) -> float:
    """Training time already stored in a checkpoint: fairseq's --stop-time-hours counts it too."""
    if checkpoint is None or not Path(checkpoint).exists():
        return 0.0
    import torch

    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    return float((state.get("extra_state") or {}).get("previous_training_time", 0.0))


def launcher(nproc: int) -> list[str]:
    """``python -m fairseq_cli.train``, or ``torchrun`` with ``nproc`` data-parallel workers (gloo on CPU,
    NCCL on GPUs). legacy_ddp all-reduces once per update, after all of a step's losses (DAE, BT, warm,
    mined) are backpropagated, so workers whose batches differ in kind never wait on each other."""
    if nproc <= 1:
        return [sys.executable, "-m", "fairseq_cli.train"]
    import torch

    backend = "nccl" if torch.cuda.is_available() and torch.cuda.device_count() >= nproc else "gloo"
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
            "-m", "unmt.fairseq_launch", "--distributed-backend", backend, "--ddp-backend", "legacy_ddp"] + \
        (["--cpu"] if backend == "gloo" else [])


def run_fairseq_train(data: Path, save_dir: Path, args: list[str], restore: Path | None = None,
                      quiet: bool = False, max_minutes: float | None = None, nproc: int = 1,
                      precision: str = "fp32") -> Path:
    """Train into ``save_dir``; resume there if a previous run was killed, else start from ``restore``.

    ``max_minutes`` bounds this stage's own training time, also when resuming or restoring: fairseq
    measures --stop-time-hours on the cumulative time stored in the checkpoint it started from.
    """
    save_dir.mkdir(parents=True, exist_ok=True)
    if max_minutes:
        budget = previous_training_seconds(restore) + 60 * max_minutes
        args = args + ["--stop-time-hours", f"{budget / 3600:.4f}"]
    last = save_dir / "checkpoint_last.pt"
    resume = []
    if not last.exists() and restore is not None:
        resume = ["--restore-file", str(restore), "--reset-optimizer", "--reset-dataloader",
                  "--reset-meters", "--reset-lr-scheduler"]
    args = args + precision_args(precision)
    cmd = launcher(nproc) + [str(data), "--user-dir", str(PLUGIN),
           "--save-dir", str(save_dir), "--num-workers", "0", "--log-format", "simple", "--log-interval", "25",
           "--no-epoch-checkpoints", "--save-interval-updates", "100", "--keep-interval-updates", "1",
           "--skip-invalid-size-inputs-valid-test"] + args + resume
    (save_dir / "command.txt").write_text(shlex.join(cmd) + "\n")
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
                if not quiet and ("| INFO |" in line and any(k in line for k in ("train_inner", "valid", "done training"))
                                  or "Error" in line):
                    print(line.rstrip()[:300], flush=True)
            rc = proc.wait()
        finally:  # interrupted (Ctrl-C, SIGTERM): never leave a trainer running on its own
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
    if rc != 0:
        err = next((l for l in reversed(tail) if "Error" in l), tail[-1] if tail else f"exit code {rc}")
        raise UnmtError(f"{log_path}: fairseq training failed: {err.strip()[:300]} -- see the log for the full trace")
    if not last.exists():
        raise UnmtError(f"{last}: fairseq exited without writing a checkpoint -- see {log_path}")
    return last

"""Launch ``fairseq_cli.train`` with our plugin, stream its log, resume from ``checkpoint_last.pt``.

Both the pretraining and the translation stage are this one call with different flags, so a reader
sees the exact fairseq command line (it is also written to ``<stage>/command.txt``).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

from unmt.errors import UnmtError
from unmt.layout import checkpoint_in, checkpoints_in, command_in, train_log_in

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


def sampling_args(section) -> list[str]:
    """How a pretrain or train section spreads its batches over languages and directions (unmt_backtranslation)."""
    args = []
    if section.sampling_temperature:
        args += ["--lang-sampling-temperature", str(section.sampling_temperature)]
    if section.batch_sentences:
        args += ["--batch-size", str(section.batch_sentences)]
    if getattr(section, "bt_partners", "rotate") == "all":
        args += ["--bt-all-partners"]
    return args


# the only Python objects a fairseq checkpoint of ours holds besides tensors and containers: its training
# arguments. Anything else found while unpickling is refused: it could run code on load.
CHECKPOINT_GLOBALS = ("argparse.Namespace",)


def read_checkpoint(checkpoint: Path) -> dict:
    """A checkpoint's contents, unpickled with ``weights_only=True`` (tensors, containers and the globals of
    CHECKPOINT_GLOBALS only), so a file someone sent cannot run code when it is read. Any other file is a
    one-line error naming it."""
    import pickle

    import torch

    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(checkpoint, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        text = str(e)
        found = next((l.strip() for l in text.splitlines() if "Unsupported global" in l or "GLOBAL" in l), None)
        if found:
            raise UnmtError(f"{checkpoint}: refused -- unpickling it would create objects a checkpoint does not "
                            f"hold ({found[:160]}), which can run code: load only checkpoints you trust, and "
                            "never this one") from None
        raise UnmtError(f"{checkpoint}: cannot be read as a fairseq checkpoint ({text.splitlines()[0][:160]}) "
                        "-- it is corrupt or not a checkpoint") from None
    except Exception as e:  # noqa: BLE001 -- a truncated or foreign file, whatever reading it raises
        raise UnmtError(f"{checkpoint}: cannot be read as a fairseq checkpoint "
                        f"({(str(e).splitlines() or [type(e).__name__])[0][:160]}) -- it is corrupt or not a "
                        "checkpoint") from None


def checkpoint_progress(checkpoint: Path | None) -> tuple[int, float]:
    """(updates, training seconds) stored in a fairseq checkpoint; (0, 0) if there is none.
    fairseq's --stop-time-hours counts the stored seconds too."""
    if checkpoint is None or not Path(checkpoint).exists():
        return 0, 0.0
    state = read_checkpoint(checkpoint)
    history = (state.get("optimizer_history") if isinstance(state, dict) else None) or [{}]
    return int(history[-1].get("num_updates", 0)), float((state.get("extra_state") or {}).get("previous_training_time", 0.0))


# fairseq's meters that read a clock (words/s, updates/s, wall and training time): measured, not computed
CLOCK_METERS = {"TimeMeter": "init", "StopwatchMeter": "sum"}


def _relative_to_run(x, roots: tuple[str, ...]):
    """``x`` with every string that is a path inside the run folder (spelled as any of ``roots``) made
    relative to it."""
    if isinstance(x, dict):
        return {k: _relative_to_run(v, roots) for k, v in x.items()}
    if isinstance(x, list):
        return [_relative_to_run(v, roots) for v in x]
    if isinstance(x, argparse.Namespace):  # fairseq keeps a model's and a task's arguments as one
        return argparse.Namespace(**_relative_to_run(vars(x), roots))
    for root in roots:
        if isinstance(x, str) and x.startswith(root + os.sep):
            return x[len(root) + 1:]
    return x


def strip_volatile(checkpoint: Path, run_root: Path | None = None) -> None:
    """Rewrite a checkpoint fairseq wrote so that the same training on the same machine gives the same bytes:
    its clock readings (timing meters, stored training time) are zeroed and the paths of the run folder in its
    arguments are made relative to that folder, so a run in another folder writes the same file. Weights,
    optimizer, learning-rate and data-iterator state are untouched: resuming from it continues exactly.
    Saved through a file object (torch names the archive inside a file after the file otherwise)."""
    import torch

    from unmt.io import atomic_path

    state = read_checkpoint(checkpoint)
    before = repr(state.get("cfg")), repr(state.get("extra_state"))
    extra = state.get("extra_state") or {}
    if "previous_training_time" in extra:
        extra["previous_training_time"] = 0.0
    for meters in (extra.get("metrics") or {}).values():
        for entry in meters:
            field = CLOCK_METERS.get(entry[2]) if len(entry) == 4 and isinstance(entry[3], dict) else None
            if field in entry[3]:
                entry[3][field] = 0
    if run_root is not None and isinstance(state.get("cfg"), dict):
        state["cfg"] = _relative_to_run(state["cfg"], (str(run_root), str(Path(run_root).resolve())))
    if (repr(state.get("cfg")), repr(extra)) == before:
        return  # already stripped: leave the file (and its time stamp) alone
    with atomic_path(checkpoint) as tmp, open(tmp, "wb") as f:
        torch.save(state, f)


def parse_record(line: str) -> tuple[str, dict | None] | None:
    """The one reader of fairseq's JSON log lines (``--log-format json``): (logger name, record) for a record
    line -- ``train_inner`` every ``--log-interval`` updates, ``train`` per epoch, and one per validation
    subset named after it, its keys prefixed with it (``valid_loss``, ``valid_num_updates``) --, (logger,
    None) for a record cut short by a kill, None for any other line."""
    parts = line.rstrip("\n").split(" | ", 3)
    if len(parts) != 4 or not parts[3].startswith("{"):
        return None
    try:
        return parts[2], json.loads(parts[3])
    except json.JSONDecodeError:
        return parts[2], None


def record_updates(rec: dict) -> int | None:
    """The update count a record was logged at (``num_updates``, or ``<subset>_num_updates``)."""
    return next((int(float(v)) for k, v in rec.items() if k.endswith("num_updates")), None)


def log_records(train_log: Path):
    """(logger name, record) for every complete JSON record of a stage's fairseq log."""
    if not Path(train_log).exists():
        return
    for line in Path(train_log).read_text(encoding="utf-8", errors="replace").splitlines():
        parsed = parse_record(line)
        if parsed is not None and parsed[1] is not None:
            yield parsed


def training_examples(train_log: Path) -> dict:
    """What a training stage's updates held: {"updates": N, "examples": {direction: {kind: sentences}},
    "language_share": {lang: share of the monolingual examples}}, summed over the ``train_inner`` records
    (every --log-interval updates: N is the last record's update count) from the task's ``ex_<kind>_<dir>``."""
    examples, updates = {}, 0
    for name, rec in log_records(train_log):
        if name != "train_inner":
            continue
        updates = max(updates, record_updates(rec) or 0)
        for key, value in rec.items():
            if key.startswith("ex_"):
                kind, direction = key[3:].split("_", 1)
                by_kind = examples.setdefault(direction, {})
                by_kind[kind] = by_kind.get(kind, 0) + int(float(value))
    share = {}
    for direction, by_kind in examples.items():
        lang = direction.split("-")[1]
        share[lang] = share.get(lang, 0) + sum(n for k, n in by_kind.items() if k in ("dae", "bt"))
    total = sum(share.values())
    return {"updates": updates, "examples": dict(sorted(examples.items())),
            "language_share": {l: round(n / total, 4) for l, n in sorted(share.items())} if total else {}}


# the ends of a record's keys that read a clock or the machine (words/s, updates/s, seconds, free memory)
CLOCK_KEYS = ("wps", "ups", "wall", "gb_free")


def untimed(rec: dict) -> dict:
    """A log record without what the clock or the machine measured: what the same training logs again."""
    return {k: v for k, v in rec.items() if not k.endswith(CLOCK_KEYS)}


def log_digest(train_log: Path) -> str:
    """sha256 of a fairseq log's records without their timings: a stage that reads a log (a curve) is stale
    when its records change, not when the same training ran at another speed."""
    import hashlib

    records = [(name, untimed(rec)) for name, rec in log_records(train_log)]
    return "log:" + hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()


def truncate_log(train_log: Path, updates: int) -> None:
    """Drop what a killed run logged after the checkpoint it resumes from, so the resumed run's records
    (losses, validations, curves) follow on as those of an uninterrupted run would."""
    if not train_log.exists():
        return
    lines = train_log.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)

    def keep(line: str) -> bool:
        parsed = parse_record(line)
        if parsed is None:
            return True
        if parsed[1] is None:  # cut short by a kill
            return False
        u = record_updates(parsed[1])
        return u is None or u <= updates

    kept = [l for l in lines if keep(l)]
    if len(kept) != len(lines):
        from unmt.io import write_text

        write_text(train_log, "".join(kept))


def _minutes(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


class Progress:
    """What a person reads while a fairseq stage trains: one line per log interval -- stage, updates of the
    budget, loss, dev BLEU per direction when validated, elapsed and estimated time left -- as a tqdm bar on
    a terminal, plain lines otherwise. The raw JSON stays in the stage's train.log."""

    def __init__(self, stage: str, max_update: int, start_update: int, quiet: bool = False, stream=None):
        self.stage, self.max_update, self.start_update = stage, max_update, start_update
        self.stream = stream or sys.stdout
        self.quiet, self.started, self.updates = quiet, time.time(), start_update
        self.bar = None
        if not quiet and self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=max_update, initial=start_update, desc=f"[{stage}]", unit="upd",
                            file=self.stream, dynamic_ncols=True)

    def timing(self) -> str:
        elapsed = time.time() - self.started
        done = self.updates - self.start_update
        left = elapsed / done * (self.max_update - self.updates) if done > 0 else None
        return f"{_minutes(elapsed)} elapsed" + (f", ~{_minutes(left)} left" if left is not None else "")

    def line(self, logger: str, rec: dict) -> str | None:
        """The readable line of one log record (None: a record not worth a line)."""
        updates = record_updates(rec)
        if updates is None:
            return None
        self.updates = max(self.updates, updates)
        where = f"[{self.stage}] {updates}/{self.max_update} updates ({100 * updates // max(1, self.max_update)}%)"
        if logger == "train_inner":
            return f"{where} | loss {float(rec.get('loss', 'nan')):.3f} | {self.timing()}"
        prefix = next((k[: -len("num_updates")] for k in rec if k.endswith("num_updates")), "")
        if logger == "train":  # fairseq's end-of-epoch summary
            return f"{where} | epoch {rec.get('epoch', '?')} done, train loss {float(rec.get('train_loss', 'nan')):.3f}"
        if prefix:  # a validation subset: <subset>_loss, <subset>_bleu_<src>-<tgt>
            subset = "dev" if prefix == "valid_" else f"dev {prefix.rstrip('_')}"
            bleu = sorted((k[len(prefix) + 5:], v) for k, v in rec.items() if k.startswith(prefix + "bleu_"))
            dev = f" | {subset} BLEU {', '.join(f'{d} {float(v):.2f}' for d, v in bleu)}" if bleu else ""
            return f"{where} | {subset} loss {float(rec.get(prefix + 'loss', 'nan')):.3f}{dev}"
        return None

    def feed(self, raw_line: str) -> None:
        parsed = parse_record(raw_line)
        if self.quiet or parsed is None or parsed[1] is None:
            if not self.quiet and parsed is None and "Error" in raw_line:
                self._write(raw_line.rstrip()[:300])
            return
        text = self.line(*parsed)
        if text is None:
            return
        if self.bar is not None:
            self.bar.n = min(self.updates, self.max_update)
            self.bar.set_postfix_str(text.split(" | ", 1)[1] if " | " in text else "", refresh=False)
            self.bar.refresh()
            if parsed[0] != "train_inner":
                self.bar.write(text, file=self.stream)
        else:
            self._write(text)

    def _write(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


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
                      precision: str = "fp32", save_every: int | None = None, run_root: Path | None = None) -> dict:
    """Train into ``save_dir`` for ``max_update`` updates; resume there if a previous run was killed, else
    start from ``restore``. ``max_minutes`` is a safety net on each attempt's training time (fairseq measures
    --stop-time-hours on the time stored in the checkpoint it starts from); the result says whether it cut
    the stage, and a cut stage run again goes on towards ``max_update``. Once fairseq is done, its checkpoints
    lose their clock readings and the paths of ``run_root`` (strip_volatile): the same training, the same bytes.

    Returns {checkpoint, updates, stopped_by: max_update | time limit, training_minutes} and, from
    unmt_backtranslation's log, examples_per_direction (training_examples).
    """
    save_dir.mkdir(parents=True, exist_ok=True)
    remove_partial_checkpoints(save_dir, read_each=False)  # a killed attempt's half-written save
    last = checkpoint_in(save_dir)
    _, start_seconds = checkpoint_progress(restore)  # a restored model's time counts: see above
    done_updates, done_seconds = checkpoint_progress(last)
    # the net bounds each attempt, from the time stored in the checkpoint it starts from: a stage it cut
    # resumes towards its update budget when run again, instead of stopping at once
    budget = max(start_seconds, done_seconds) + 60 * max_minutes if max_minutes else None
    log_path = train_log_in(save_dir)
    finished = last.exists() and done_updates >= max_update
    if not finished:  # a finished checkpoint is not trained again: fairseq would take one more step
        # a killed attempt's records after the state resumed from go (none at all without a checkpoint: the
        # stage then starts over, and its log with it), so curves never count a validation twice
        truncate_log(log_path, done_updates)
        every = save_every or default_save_interval(max_update)
        progress = Progress(save_dir.name, max_update, done_updates if last.exists() else 0, quiet)
        try:
            _launch(data, save_dir, args + ["--max-update", str(max_update), "--save-interval-updates", str(every)],
                    restore, progress, budget, nproc, precision)
        finally:
            progress.close()
    updates, seconds = checkpoint_progress(last)
    for ckpt in checkpoints_in(save_dir):
        strip_volatile(ckpt, run_root)
    held = training_examples(log_path)  # unmt_backtranslation's examples per direction (none: another task)
    return {"checkpoint": str(last), "updates": updates,
            "stopped_by": "max_update" if updates >= max_update else "time limit",
            "training_minutes": round((seconds - start_seconds) / 60, 1),
            **({"examples_per_direction": held} if held["examples"] else {})}


def _pdeathsig():
    """libc's prctl, looked up before any fork (a child of a threaded process must not load libraries)."""
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux: the inherited run lock still keeps a second run out
        return None


_PRCTL = _pdeathsig()


def die_with_parent() -> None:
    """In the trainer, before it starts: SIGKILL it when the unmt process that started it dies (Linux's
    PR_SET_PDEATHSIG). A runner killed alone (``kill -9 PID``, not its process group) otherwise leaves fairseq
    training on its own -- its logging ignores the closed pipe -- and the next run trains a second one into the
    same folder."""
    if _PRCTL is not None:
        _PRCTL(1, 9)  # PR_SET_PDEATHSIG, SIGKILL


def remove_partial_checkpoints(save_dir: Path, read_each: bool = True) -> list[Path]:
    """Remove what a failed or killed save left in ``save_dir``; return the checkpoints it was writing.
    fairseq writes a checkpoint as ``<name>.tmp`` and renames it, and our plugin copies it to its other
    names the same way (unmt/plugin/atomic_copy.py): a ``.tmp`` is a write cut short. A checkpoint that does
    not read (written by a fairseq without that plugin) goes too; ``read_each=False`` skips reading them
    (before a launch: every whole-named checkpoint was renamed into place, and reading costs a full load)."""
    unwritten = []
    for tmp in sorted(save_dir.glob("*.pt.tmp")):
        tmp.unlink()
        unwritten.append(tmp.with_suffix(""))
    for ckpt in checkpoints_in(save_dir) if read_each else []:
        try:
            read_checkpoint(ckpt)
        except UnmtError:
            ckpt.unlink()
            unwritten.append(ckpt)
    return unwritten


def failure_line(tail: list[str], rc: int) -> str:
    """The line that says why training failed: torchrun's root cause (which worker, its exit code or signal,
    the last error it printed) when torchrun reports one, else the last line naming an error."""
    if "Root Cause (first observed failure):" in tail:
        cause = {}
        for line in tail[tail.index("Root Cause (first observed failure):") + 1:]:
            key, sep, value = line.strip().partition(":")
            if sep and key.strip() in ("rank", "exitcode"):
                cause[key.strip()] = " ".join(re.sub(r"\(pid: \d+\)", "", value).split())
        if cause:
            reason = next((l.strip() for l in reversed(tail) if "Error" in l and "ChildFailedError" not in l), "")
            return (f"worker rank {cause.get('rank', '?')} exited with {cause.get('exitcode', '?')}"
                    + (f": {reason}" if reason else ""))
    return next((l for l in reversed(tail) if "Error" in l), tail[-1] if tail else f"exit code {rc}").strip()


def _launch(data, save_dir, args, restore, progress: Progress, budget, nproc, precision) -> None:
    if budget:
        args = args + ["--stop-time-hours", f"{budget / 3600:.4f}"]
    last = checkpoint_in(save_dir)
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

    write_text(command_in(save_dir), shlex.join(cmd) + "\n")
    env = dict(os.environ, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1", PYTHONWARNINGS="ignore", PYTHONUNBUFFERED="1",
               OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // max(1, nproc)))))
    log_path = train_log_in(save_dir)
    tail: list[str] = []
    trained = False  # fairseq said "done training": what follows is teardown
    log_error = None  # a log we could not write (a full disk): fairseq's own failure, if any, says more
    log = open(log_path, "a", encoding="utf-8")
    from unmt.runner import HELD_LOCKS

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            pass_fds=tuple(HELD_LOCKS), preexec_fn=die_with_parent)
    try:
        for line in proc.stdout:
            if log_error is None:
                try:
                    log.write(line)
                    log.flush()
                except OSError as e:
                    log_error = e
            tail = (tail + [line.rstrip()])[-60:]
            trained = trained or "fairseq_cli.train | done training in" in line  # its logger's, not a sample's
            progress.feed(line)
        rc = proc.wait()
        # fairseq can abort in interpreter teardown after it saved ("terminate called without an active
        # exception"; under torchrun, a worker's gloo threads): the training is done. torchrun's report of
        # that abort runs to dozens of lines, so the whole output is watched, not its tail
        if rc != 0 and trained and last.exists():
            rc = 0
    finally:  # interrupted (Ctrl-C, SIGTERM): never leave a trainer running on its own
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        try:
            log.close()
        except OSError as e:  # what it still held could not be written either
            log_error = log_error or e
    if rc != 0:
        err = failure_line(tail, rc)
        unwritten = remove_partial_checkpoints(save_dir)
        if unwritten:
            raise UnmtError(f"{unwritten[0]}: could not be written ({err[:200]}); the partial file is removed -- "
                            f"free space or fix the file system, then run again: the stage resumes (log: {log_path})")
        if log_error is None:
            raise UnmtError(f"{log_path}: fairseq training failed: {err[:300]} -- see the log for the full trace")
    if log_error is not None:
        raise OSError(log_error.errno, log_error.strerror, str(log_path))
    if not last.exists():
        raise UnmtError(f"{last}: fairseq exited without writing a checkpoint -- see {log_path}")

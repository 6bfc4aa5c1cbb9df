"""Streamed preparation at growing corpus sizes: lines/s and peak RSS of ``unmt.prepare.prepare`` with
``shard_lines`` set, each size in its own process so its peak RSS is its own -- one run of this script.
Peak RSS: the main process's own high-water mark, and /proc sampled every 0.2 s for its children (shard
workers, fairseq-preprocess) and for the whole tree at once.
The in-memory path (``shard_lines`` unset) is measured beside it at the smallest size.

Corpora are synthetic, scaled from the committed LibreOffice en-fr corpus: each line joins the first half of
one real training line to the second half of another of the same language (same vocabulary and line lengths,
some lines repeat, more the bigger the corpus, and are removed as News Crawl's are).

    .venv/bin/python benchmarks/streaming_prepare.py --sizes 1000000,10000000

Prints a Markdown table and writes it (and JSON) to benchmarks/results/streaming_prepare.{md,json}.
"""
from __future__ import annotations

import argparse
import json
import lzma
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _report import write_results

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpora" / "libreoffice-en-fr"


def synthetic_corpus(out: Path, n: int, seed: int = 0) -> None:
    """train.{en,fr} of ``n`` spliced lines each, dev/test copied from the real corpus."""
    out.mkdir(parents=True, exist_ok=True)
    for lang in ("en", "fr"):
        with lzma.open(CORPUS / f"train.{lang}.xz", "rt", encoding="utf-8") as f:
            words = [l.split() for l in f if l.strip()]
        rng = random.Random(seed)
        with open(out / f"train.{lang}", "w", encoding="utf-8") as f:
            for _ in range(n):
                a, b = rng.choice(words), rng.choice(words)
                f.write(" ".join(a[: (len(a) + 1) // 2] + b[len(b) // 2:]) + "\n")
        for split in ("dev", "test"):
            shutil.copy(CORPUS / f"{split}.{lang}.xz", out / f"{split}.{lang}.xz")


def tree_rss_mb(root: int) -> tuple[float, float]:
    """(RSS of ``root`` and all its descendants together, RSS of the largest descendant) now, from /proc.
    Sampled, because a child's ru_maxrss keeps its parent's RSS from before exec."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
                parent[int(d)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += [c for c, p in parent.items() if p == pid]
    rss = {}
    for pid in tree:
        try:
            line = next(l for l in Path(f"/proc/{pid}/status").read_text().splitlines() if l.startswith("VmRSS:"))
            rss[pid] = int(line.split()[1]) / 1024
        except (OSError, StopIteration):
            pass
    return sum(rss.values()), max((v for p, v in rss.items() if p != root), default=0.0)


class PeakRSS(threading.Thread):
    """Highest total RSS of this process tree and highest RSS of any one child, sampled every 0.2 s."""

    def __init__(self):
        super().__init__(daemon=True)
        self.total = self.child = 0.0
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(0.2):
            total, child = tree_rss_mb(os.getpid())
            self.total, self.child = max(self.total, total), max(self.child, child)


def one_size(n: int, shard_lines: int | None, vocab_size: int, workers: int, scratch: Path) -> dict:
    from unmt.config import PrepareConfig
    from unmt.layout import RunLayout
    from unmt.prepare import corpus_files, prepare

    corpus, run = scratch / "corpus", scratch / "run"
    t0 = time.time()
    synthetic_corpus(corpus, n)
    build_s = time.time() - t0
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak = PeakRSS()
    peak.start()
    t0 = time.time()
    p = PrepareConfig(vocab_size=vocab_size, max_len=100, shard_lines=shard_lines, workers=workers)
    stats = prepare(corpus_files(corpus, ("en", "fr")), RunLayout(run), ("en", "fr"), p, seed=1,
                    progress=lambda m: print(m, file=sys.stderr))
    seconds = time.time() - t0
    peak.done.set()
    peak.join()
    disk = sum(p.stat().st_size for p in (run / "prepare").rglob("*") if p.is_file()) / 2**20
    return {"lines_per_language": n, "path": "streamed" if shard_lines else "in memory",
            "shards": stats.get("train_shards", {}).get("en", 1), "workers": workers if shard_lines else 1,
            "seconds": round(seconds, 1), "lines_per_s": round(2 * n / seconds),
            "kept_lines": stats["train.en"] + stats["train.fr"],
            "peak_rss_main_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "rss_before_prepare_mb": round(rss_before), "peak_rss_worker_mb": round(peak.child),
            "peak_rss_total_mb": round(peak.total),
            "output_mb": round(disk), "corpus_build_s": round(build_s, 1)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000000,10000000", help="training lines per language")
    ap.add_argument("--shard-lines", type=int, default=1_000_000)
    ap.add_argument("--vocab-size", type=int, default=8000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--in-memory-size", type=int, default=1_000_000, help="also run the in-memory path here, 0 = no")
    ap.add_argument("--scratch", type=Path, default=ROOT / "benchmarks" / "scratch")
    ap.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)   # child process: one size
    ap.add_argument("--in-memory", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        args.scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=args.scratch) as scratch:
            row = one_size(args.one, None if args.in_memory else args.shard_lines, args.vocab_size, args.workers,
                           Path(scratch))
        print(json.dumps(row))
        return
    rows = []
    jobs = [(int(s), False) for s in args.sizes.split(",")]
    if args.in_memory_size:
        jobs.insert(1 if jobs and jobs[0][0] <= args.in_memory_size else 0, (args.in_memory_size, True))
    for n, in_memory in jobs:
        child = subprocess.run([sys.executable, __file__, "--one", str(n), "--shard-lines", str(args.shard_lines),
                                "--vocab-size", str(args.vocab_size), "--workers", str(args.workers),
                                "--scratch", str(args.scratch)] + ["--in-memory"] * in_memory,
                               stdout=subprocess.PIPE, text=True)
        if child.returncode != 0:
            sys.exit(f"size {n} failed ({child.returncode})")
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    head = ["lines per language", "path", "shards", "workers", "prepare s", "lines/s (both languages)", "lines kept",
            "peak RSS main MB", "peak RSS largest child MB", "peak RSS all processes MB", "output MB"]
    keys = ["lines_per_language", "path", "shards", "workers", "seconds", "lines_per_s", "kept_lines",
            "peak_rss_main_mb", "peak_rss_worker_mb", "peak_rss_total_mb", "output_mb"]
    write_results("streaming_prepare", head, keys, rows)


if __name__ == "__main__":
    main()

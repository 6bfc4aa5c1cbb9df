"""Sharded mining at growing pool sizes: sentences/s (encoding, search), planted-pair recall and peak RSS,
each size in its own process so its peak RSS is its own — one run of this script.

Pools are synthetic, scaled from a finished run's real corpus: filler sentences are real training lines of
that language with their words shuffled (unique, same vocabulary and lengths), and the run's aligned dev
pairs are planted among them at random positions. The encoder is that run's lexicon encoder (align stage's
vectors, mapping and lexicon) with a 212-d hashed part (300 + 212 = 512 dims, 1 KB per sentence in fp16).

    .venv/bin/python benchmarks/sharded_mining.py --run-dir runs/default --sizes 100000,300000,1000000

Prints a Markdown table and writes it (and JSON) to benchmarks/results/sharded_mining.{md,json}.
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import write_results

ROOT = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pool(lines: list[str], planted: list[str], n: int, seed: int):
    """``n`` lines: shuffled-word fillers with ``planted`` at random positions. Yields lines; returns nothing
    else in memory but the planted positions (computed up front from the seed)."""
    rng = random.Random(seed)
    where = sorted(rng.sample(range(n), len(planted)))
    order = list(range(len(planted)))
    rng.shuffle(order)
    at = dict(zip(where, order))

    def lines_iter():
        for pos in range(n):
            if pos in at:
                yield planted[at[pos]]
            else:
                words = rng.choice(lines).split()
                rng.shuffle(words)
                yield " ".join(words)
    return lines_iter(), {order_i: pos for pos, order_i in at.items()}


def one_size(run_dir: Path, n: int, planted_n: int, hash_dim: int, shard: int, chunk: int) -> dict:
    from unmt.io import read_lines
    from unmt.layout import RunLayout
    from unmt.mine import LexicalEncoder
    from unmt.sharded import encode_to_store, sharded_margin_mine

    layout = RunLayout(run_dir)
    src, tgt = "en", "fr"
    train = {l: read_lines(layout.text("train", l)) for l in (src, tgt)}
    dev = {l: read_lines(layout.text("dev", l))[:planted_n] for l in (src, tgt)}
    encoder = LexicalEncoder(layout, src, tgt, train, hash_dim=hash_dim)
    rss_start = rss_mb()
    with tempfile.TemporaryDirectory(dir=ROOT / "benchmarks", prefix=".sharded.") as work:
        work = Path(work)
        stores, where, t0 = {}, {}, time.time()
        for seed, lang in enumerate((src, tgt)):
            lines, where[lang] = pool(train[lang], dev[lang], n, seed + 1)
            stores[lang] = encode_to_store(encoder.encode, lines, lang, work / f"{lang}.f16", chunk=chunk)
        encode_s = time.time() - t0
        t0 = time.time()
        pairs = sharded_margin_mine(stores[src], stores[tgt], work, k=4, mode="intersect", threshold=1.0,
                                    shard=shard, chunk=chunk)
        search_s = time.time() - t0
        disk = sum(p.stat().st_size for p in work.rglob("*") if p.is_file())
    gold = {(where[src][i], where[tgt][i]) for i in range(len(dev[src]))}
    mined = {(i, j) for _, i, j in pairs}
    hit = len(mined & gold)
    return {"pool_per_side": n, "planted": len(gold), "dims": stores[src].shape[1],
            "encode_sentences_per_s": round(2 * n / encode_s), "mine_sentences_per_s": round(2 * n / search_s),
            "encode_s": round(encode_s, 1), "mine_s": round(search_s, 1),
            "recall": round(100 * hit / len(gold), 2), "mined": len(mined),
            "peak_rss_mb": round(rss_mb()), "rss_before_pools_mb": round(rss_start), "scratch_disk_mb": round(disk / 2**20),
            "path": "sharded, IVF-PQ"}


def exact_reference(run_dir: Path, n: int, planted_n: int, hash_dim: int, shard: int, chunk: int) -> dict:
    """The same pools mined in memory, exactly (flat), with the stage's default 4,096-d hashed part, beside the
    sharded path: what the 512-d fp16 vectors and IVF-PQ cost in recall."""
    import numpy as np

    from unmt.io import read_lines
    from unmt.layout import RunLayout
    from unmt.mine import LexicalEncoder, margin_mine

    layout = RunLayout(run_dir)
    src, tgt = "en", "fr"
    train = {l: read_lines(layout.text("train", l)) for l in (src, tgt)}
    dev = {l: read_lines(layout.text("dev", l))[:planted_n] for l in (src, tgt)}
    encoder = LexicalEncoder(layout, src, tgt, train)
    vectors, where = {}, {}
    t0 = time.time()
    for seed, lang in enumerate((src, tgt)):
        lines, where[lang] = pool(train[lang], dev[lang], n, seed + 1)
        vectors[lang] = np.concatenate([encoder.encode(b, lang) for b in _batches(lines, chunk)])
    encode_s = time.time() - t0
    t0 = time.time()
    pairs = margin_mine(vectors[src], vectors[tgt], 4, "intersect", 1.0, "flat")
    mine_s = time.time() - t0
    gold = {(where[src][i], where[tgt][i]) for i in range(len(dev[src]))}
    hit = len({(i, j) for _, i, j in pairs} & gold)
    return {"pool_per_side": n, "planted": len(gold), "dims": vectors[src].shape[1], "path": "in memory, exact",
            "encode_sentences_per_s": round(2 * n / encode_s), "mine_sentences_per_s": round(2 * n / mine_s),
            "encode_s": round(encode_s, 1), "mine_s": round(mine_s, 1), "recall": round(100 * hit / len(gold), 2),
            "mined": len(pairs), "peak_rss_mb": round(rss_mb()), "rss_before_pools_mb": None, "scratch_disk_mb": 0}


def _batches(lines, size):
    batch = []
    for line in lines:
        batch.append(line)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run-dir", type=Path, default=ROOT / "runs/default", help="a finished en-fr run (align done)")
    ap.add_argument("--sizes", default="100000,300000,1000000")
    ap.add_argument("--planted", type=int, default=1000)
    ap.add_argument("--hash-dim", type=int, default=212)
    ap.add_argument("--shard", type=int, default=200_000)
    ap.add_argument("--chunk", type=int, default=20_000)
    ap.add_argument("--exact-size", type=int, default=20_000,
                    help="also mine a pool of this size exactly in memory (4,096-d hashed part), 0 = no")
    ap.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)   # child process: one size
    ap.add_argument("--exact", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        fn = exact_reference if args.exact else one_size
        print(json.dumps(fn(args.run_dir, args.one, args.planted, args.hash_dim, args.shard, args.chunk)))
        return
    rows = []
    jobs = ([(args.exact_size, True), (args.exact_size, False)] if args.exact_size else []) \
        + [(int(s), False) for s in args.sizes.split(",")]
    for n, exact in jobs:
        child = subprocess.run([sys.executable, __file__, "--run-dir", str(args.run_dir), "--one", str(n),
                                "--planted", str(args.planted), "--hash-dim", str(args.hash_dim),
                                "--shard", str(args.shard), "--chunk", str(args.chunk)] + ["--exact"] * exact,
                               capture_output=True, text=True)
        if child.returncode != 0:
            sys.exit(f"size {n} failed:\n{child.stderr[-3000:]}")
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    head = ["pool per side", "path", "dims", "encode sent/s", "mine sent/s", "encode s", "mine s", "planted recall %",
            "mined", "peak RSS MB", "RSS before pools MB", "scratch disk MB"]
    keys = ["pool_per_side", "path", "dims", "encode_sentences_per_s", "mine_sentences_per_s", "encode_s", "mine_s", "recall",
            "mined", "peak_rss_mb", "rss_before_pools_mb", "scratch_disk_mb"]
    write_results("sharded_mining", head, keys, rows)


if __name__ == "__main__":
    main()

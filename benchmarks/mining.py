"""Mining cost on this CPU: sentences/s for encoding (the lexicon encoder, and the LM encoder when a
run directory is given) and queries/s for k-NN search against pools of 10k, 100k and 1M vectors,
exact (flat) against IVF and IVF-PQ, with IVF's recall of the exact neighbour — all measured in one run.

    .venv/bin/python benchmarks/mining.py [--run-dir runs/default] [--sizes 10000,100000,1000000]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from unmt.search import build_index


def encode_speed(run_dir: Path, n: int = 2000) -> None:
    from unmt.io import read_lines
    from unmt.layout import RunLayout
    from unmt.mine import LexicalEncoder, embed_sentences

    layout = RunLayout(run_dir)
    src, tgt = sorted(p.name.split(".")[1] for p in layout.text("train", "x").parent.glob("train.*"))
    lines = {l: read_lines(layout.text("train", l)) for l in (src, tgt)}
    if layout.words(src).exists():
        enc = LexicalEncoder(layout, src, tgt, lines)
        t0 = time.time()
        enc.encode(lines[src][:n], src)
        print(f"encode (lexicon encoder)  {n / (time.time() - t0):9.0f} sentences/s")
    ckpt = layout.checkpoint("pretrain")
    if ckpt.exists():
        from unmt.translate import Translator

        tr = Translator(ckpt, layout)
        t0 = time.time()
        embed_sentences(tr, lines[src][:n], src)
        print(f"encode (LM encoder)       {n / (time.time() - t0):9.0f} sentences/s")


def search_speed(sizes: list[int], dim: int, queries: int, k: int = 4) -> None:
    rng = np.random.default_rng(0)
    print(f"k-NN search, {dim}-d unit vectors, k={k}, {queries} queries per pool size")
    print(f"{'pool':>9}  {'index':>6}  {'build s':>8}  {'queries/s':>10}  {'recall@1':>8}  {'full pool both ways':>20}")
    for n in sizes:
        # clustered like sentence embeddings, so IVF's lists are meaningful
        centres = rng.normal(size=(max(10, n // 1000), dim)).astype(np.float32)
        base = centres[rng.integers(len(centres), size=n)] + 0.5 * rng.normal(size=(n, dim)).astype(np.float32)
        base /= np.linalg.norm(base, axis=1, keepdims=True)
        q = base[rng.integers(n, size=queries)] + 0.1 * rng.normal(size=(queries, dim)).astype(np.float32)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        exact = None
        for kind in ("flat", "ivf", "ivfpq"):
            t0 = time.time()
            index = build_index(base, kind)
            built = time.time() - t0
            t0 = time.time()
            _, idx = index.search(q, k)
            qps = queries / (time.time() - t0)
            exact = idx[:, 0] if kind == "flat" else exact
            recall = np.mean(idx[:, 0] == exact)
            full = 2 * n / qps  # mining searches every sentence of both pools
            print(f"{n:>9}  {kind:>6}  {built:>8.1f}  {qps:>10.0f}  {recall:>8.3f}  {full:>18.0f} s")
            del index


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run-dir", type=Path, default=None, help="a finished run, to time its encoders")
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--queries", type=int, default=2000)
    args = ap.parse_args()
    if args.run_dir:
        encode_speed(args.run_dir)
    search_speed([int(s) for s in args.sizes.split(",")], args.dim, args.queries)


if __name__ == "__main__":
    main()

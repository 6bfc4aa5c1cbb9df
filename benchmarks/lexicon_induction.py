"""Lexicon induction at MUSE scale on this CPU: 50k x 300-d vocabularies related by a random orthogonal
map plus noise. Prints time per refinement iteration, P@1, and faiss CSLS against brute-force numpy
CSLS (same answers, ratio of times) measured in this run.

    .venv/bin/python benchmarks/lexicon_induction.py [--words 50000] [--dim 300]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from unmt.align import induce_lexicon, normalise
from unmt.config import AlignConfig
from unmt.search import csls_retrieve


def csls_retrieve_numpy(S: np.ndarray, T: np.ndarray, k: int = 10, chunk: int = 4096) -> np.ndarray:
    """Brute-force CSLS best target per source in numpy: the reference the faiss path is timed against
    (kept here, not in the library, so the library has one CSLS)."""
    def mean_topk(A, B):
        out = np.empty(len(A), np.float32)
        for a in range(0, len(A), chunk):
            sims = A[a:a + chunk] @ B.T
            out[a:a + chunk] = np.partition(sims, -k, axis=1)[:, -k:].mean(1)
        return out

    r_t = mean_topk(T, S)
    best = np.empty(len(S), np.int64)
    for a in range(0, len(S), chunk):
        best[a:a + chunk] = (2 * (S[a:a + chunk] @ T.T) - r_t[None, :]).argmax(1)
    return best


def spaces(n: int, d: int, noise: float = 0.02, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = ((rng.gamma(2.0, size=(n, d)) - 2.0) * np.linspace(2.0, 0.5, d)).astype(np.float32)
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    Y = (X @ Q + noise * rng.normal(size=(n, d))).astype(np.float32)
    src = [f"s{i}" for i in range(n)]
    tgt = [f"t{i}" if i % 200 else f"s{i}" for i in range(n)]  # 0.5% shared strings as seeds
    return X, Y, src, tgt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--words", type=int, default=50000)
    ap.add_argument("--dim", type=int, default=300)
    ap.add_argument("--iterations", type=int, default=3)
    args = ap.parse_args()
    X, Y, src, tgt = spaces(args.words, args.dim)
    print(f"vocabularies: {args.words} x {args.dim}-d")

    gold = {i: {i} for i in range(0, args.words, 10)}  # every 10th word evaluated
    t0 = time.time()
    a = AlignConfig(iterations=args.iterations, max_rank=args.words, max_rank_ratio=None)
    _, hist = induce_lexicon(X, Y, src, tgt, "identical", a, gold=gold)
    total = time.time() - t0
    print("iteration  dictionary  P@1    criterion  seconds")
    prev = 0.0
    for h in hist:
        print(f"{h['iteration']:>9}  {h['dictionary_size']:>10}  {h['p@1']:>5.1f}  {h['criterion']:>9.4f}  "
              f"{h['elapsed'] - prev:>7.1f}")
        prev = h["elapsed"]
    print(f"induction total {total:.1f}s, {total / len(hist):.1f}s per refinement iteration "
          f"(Procrustes + CSLS dictionary over all {args.words} words + evaluation)")

    S, T = normalise(X), normalise(Y)
    t0 = time.time()
    _, idx = csls_retrieve(S, T, 10, 1)
    t_faiss = time.time() - t0
    t0 = time.time()
    _, idx_ivf = csls_retrieve(S, T, 10, 1, kind="ivf")
    t_ivf = time.time() - t0
    t0 = time.time()
    best = csls_retrieve_numpy(S, T, 10)
    t_numpy = time.time() - t0
    print(f"CSLS best match for {args.words} words against {args.words}:")
    print(f"  numpy brute force  {t_numpy:7.1f}s")
    print(f"  faiss flat (exact) {t_faiss:7.1f}s   agreement with numpy {100 * np.mean(idx[:, 0] == best):.2f}%   "
          f"speed-up x{t_numpy / t_faiss:.2f}")
    print(f"  faiss IVF          {t_ivf:7.1f}s   agreement with numpy {100 * np.mean(idx_ivf[:, 0] == best):.2f}%   "
          f"speed-up x{t_numpy / t_ivf:.2f}")


if __name__ == "__main__":
    main()

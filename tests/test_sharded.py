"""Sharded mining (unmt/sharded.py): pools on disk in fp16, IVF-PQ trained on a sample, searched shard by
shard, exact rescoring, margins from the neighbours — it must find what exact in-memory mining finds."""
from __future__ import annotations

import numpy as np
import pytest

from unmt.errors import UnmtError
from unmt.mine import _rows, margin_mine
from unmt.sharded import DiskArray, sharded_margin_mine, write_store


def planted_pools(n=6000, d=60, filler=0.5, seed=0):
    """Clustered unit vectors; Y holds noisy copies of X's rows (shuffled) for half its rows, unrelated ones
    elsewhere. Returns X, Y and the gold (i, j) pairs."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n // 100, d))

    def cloud(m):
        v = centres[rng.integers(len(centres), size=m)] + 0.7 * rng.normal(size=(m, d))
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    X = cloud(n)
    perm = rng.permutation(n)
    Y = X[perm] + 0.08 * rng.normal(size=(n, d))
    Y /= np.linalg.norm(Y, axis=1, keepdims=True)
    unrelated = rng.random(n) < filler
    Y[unrelated] = cloud(int(unrelated.sum()))
    gold = {(int(perm[j]), j) for j in range(n) if not unrelated[j]}
    return X.astype(np.float32), Y.astype(np.float32), gold


def recall(pairs, gold):
    return len({(i, j) for _, i, j in pairs} & gold) / len(gold)


def test_sharded_mining_finds_what_exact_mining_finds(tmp_path):
    X, Y, gold = planted_pools()
    exact = margin_mine(X, Y, 4, "intersect", 1.0, "flat")
    xs = write_store(tmp_path / "x.f16", [X[a:a + 1000] for a in range(0, len(X), 1000)])   # streamed in chunks
    ys = write_store(tmp_path / "y.f16", [Y[a:a + 1000] for a in range(0, len(Y), 1000)])
    # four base shards, query chunks that do not divide the pool: every merge path runs
    sharded = sharded_margin_mine(xs, ys, tmp_path, 4, "intersect", 1.0, shard=1500, chunk=700, sample=6000)
    assert recall(exact, gold) > 0.9                      # the planted task is solvable
    assert recall(sharded, gold) >= recall(exact, gold) - 0.03
    assert [s for s, _, _ in sharded] == sorted((s for s, _, _ in sharded), reverse=True)
    assert len({i for _, i, _ in sharded}) == len(sharded) == len({j for _, _, j in sharded})
    # k-NN lists live on disk, shaped (pool, k)
    assert DiskArray(tmp_path / "forward" / "ids.i64").shape == (len(X), 4)


def test_more_shards_lose_nothing(tmp_path):
    X, Y, gold = planted_pools(n=3000)
    xs, ys = write_store(tmp_path / "x.f16", [X]), write_store(tmp_path / "y.f16", [Y])
    one = sharded_margin_mine(xs, ys, tmp_path / "one", 4, "intersect", 1.0, shard=len(Y), chunk=len(X), sample=3000)
    many = sharded_margin_mine(xs, ys, tmp_path / "many", 4, "intersect", 1.0, shard=400, chunk=333, sample=3000)
    # each shard proposes its own candidates for exact rescoring, so more shards can only see more
    assert recall(many, gold) >= recall(one, gold) - 0.01 and recall(one, gold) > 0.8


def test_margin_mine_takes_sharded_as_an_index_kind():
    X, Y, gold = planted_pools(n=2000)
    for mode in ("intersect", "max"):
        pairs = margin_mine(X, Y, 4, mode, 1.0, "sharded")
        assert recall(pairs, gold) > 0.85, mode


def test_store_pads_to_a_multiple_of_8_and_reads_rows(tmp_path):
    X = np.random.default_rng(1).normal(size=(50, 13)).astype(np.float32)
    store = write_store(tmp_path / "v.f16", [X[:20], X[20:]])
    assert store.shape == (50, 16) and not list(tmp_path.glob(".*tmp"))
    rows = _rows(store, [7, 3, 41])
    assert np.allclose(rows[:, :13], X[[7, 3, 41]], atol=1e-2) and not rows[:, 13:].any()


def test_truncated_store_and_mismatched_pools_are_one_line(tmp_path):
    store = write_store(tmp_path / "v.f16", [np.ones((10, 8), np.float32)])
    with open(store.path, "r+b") as f:
        f.truncate(8 * 2 * 5)
    with pytest.raises(UnmtError, match="short read"):
        DiskArray(store.path).read(0, 10)
    other = write_store(tmp_path / "w.f16", [np.ones((10, 16), np.float32)])
    eight = write_store(tmp_path / "u.f16", [np.ones((10, 8), np.float32)])
    with pytest.raises(UnmtError, match="vectors of 8 and 16 dims"):
        sharded_margin_mine(eight, other, tmp_path)

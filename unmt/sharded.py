"""Mining at scale with memory that does not grow with the pool: the CRISS sharded k-NN idea.

    vectors -> disk (fp16, streamed)      write_store / encode_to_store
    IVF-PQ trained once on a sample       train_index
    base pool in shards, queries in chunks sharded_knn: each base shard is added to a copy of the trained
                                          index, searched by every query chunk, its candidates rescored
                                          exactly against the shard's own fp16 vectors, and merged into
                                          each query's running top-k (kept on disk)
    ratio margins from the neighbours     margin_candidates (same margin and direction switch as mine.py)

What stays in memory: one base shard (fp16 vectors + PQ codes), one query chunk, the trained quantiser and
4 bytes per sentence for each side's mean neighbour similarity (the margin's denominator). Everything that
grows with the pools (vectors, k-NN lists, best candidates) is on disk and read back in chunks with pread,
not mmap, so pages read once do not stay charged to the process.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from unmt.errors import UnmtError
from unmt.io import atomic_path, write_json
from unmt.search import combine_directions


class DiskArray:
    """A 2-D array in a raw file (+ ``.json`` with shape and dtype), read and written by row ranges."""

    def __init__(self, path: Path, shape: tuple[int, int] | None = None, dtype=None, fill=None):
        self.path = Path(path)
        meta = self.path.with_name(self.path.name + ".json")
        if shape is None:  # open an existing one
            info = json.loads(meta.read_text())
            shape, dtype = tuple(info["shape"]), info["dtype"]
        else:
            with open(self.path, "wb") as f:
                f.truncate(int(np.prod(shape)) * np.dtype(dtype).itemsize)
            write_json(meta, {"shape": list(shape), "dtype": np.dtype(dtype).name})
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.row_bytes = self.shape[1] * self.dtype.itemsize
        self.fd = os.open(self.path, os.O_RDWR)
        if fill is not None:
            block = max(1, (64 << 20) // self.row_bytes)
            for a in range(0, self.shape[0], block):
                b = min(self.shape[0], a + block)
                self.write(a, np.full((b - a, self.shape[1]), fill, self.dtype))

    def __len__(self) -> int:
        return self.shape[0]

    def read(self, a: int, b: int) -> np.ndarray:
        n = (b - a) * self.row_bytes
        buf = os.pread(self.fd, n, a * self.row_bytes)
        if len(buf) != n:
            raise UnmtError(f"{self.path}: short read (file truncated?) -- delete it and rerun the stage")
        return np.frombuffer(buf, self.dtype).reshape(b - a, self.shape[1])

    def write(self, a: int, rows: np.ndarray) -> None:
        os.pwrite(self.fd, np.ascontiguousarray(rows, self.dtype).tobytes(), a * self.row_bytes)

    def close(self) -> None:
        os.close(self.fd)


def write_store(path: Path, chunks: Iterable[np.ndarray]) -> DiskArray:
    """Stream float vectors to ``path`` as fp16 (padded with zero columns to a multiple of 8, which PQ needs
    and inner products ignore); written to a temp file and renamed."""
    n, d = 0, None
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        for chunk in chunks:
            chunk = np.asarray(chunk, np.float32)
            if d is None:
                d = chunk.shape[1] + (-chunk.shape[1]) % 8
            if chunk.shape[1] != d:
                chunk = np.hstack([chunk, np.zeros((len(chunk), d - chunk.shape[1]), np.float32)])
            f.write(chunk.astype(np.float16).tobytes())
            n += len(chunk)
    if not n:
        raise UnmtError(f"{path}: no sentences to encode -- the pool is empty")
    write_json(path.with_name(path.name + ".json"), {"shape": [n, d], "dtype": "float16"})
    return DiskArray(path)


def encode_to_store(encode: Callable[[list[str], str], np.ndarray], lines: Iterable[str], lang: str, path: Path,
                    chunk: int = 20_000, progress=None) -> DiskArray:
    """``encode`` a stream of lines ``chunk`` at a time straight to disk; the whole matrix never exists."""
    def batches():
        batch = []
        for line in lines:
            batch.append(line)
            if len(batch) == chunk:
                yield encode(batch, lang)
                progress and progress(len(batch))
                batch = []
        if batch:
            yield encode(batch, lang)
            progress and progress(len(batch))
    return write_store(path, batches())


def _faiss():
    try:
        import faiss
    except ImportError:
        raise UnmtError("mine.index: sharded needs faiss (faiss-cpu or faiss-gpu) -- pip install faiss-cpu, or use "
                        "mine.index: flat (exact search in torch)") from None
    return faiss


def train_index(sample: np.ndarray, n_total: int, nlist: int | None = None):
    """An empty IVF-PQ index (inner product) trained on ``sample`` for a pool of ``n_total`` vectors: ``nlist``
    lists, d/8 sub-quantisers of 8 bits (1 byte per 8 dims: 1/16 of fp16). A query costs nlist x d (its nearest
    lists) + nprobe x n/nlist x d/8 (scanning them); the default nlist = sqrt(2n) (64..8192) balances the two
    at nprobe 16."""
    faiss = _faiss()
    d = sample.shape[1]
    nlist = nlist or int(np.clip(np.sqrt(2 * n_total), 64, 8192))
    nlist = max(1, min(nlist, len(sample) // 39))    # faiss's k-means wants >= 39 points per centroid
    nbits = int(np.clip(np.log2(max(2, len(sample) // 39)), 1, 8))   # 8 bits (256 codes) from 9,984 samples up
    index = faiss.IndexIVFPQ(faiss.IndexFlatIP(d), d, nlist, d // 8, nbits, faiss.METRIC_INNER_PRODUCT)
    # k-means at 10 iterations, the PQ codebooks on 64 points per code (faiss's defaults, 25 and 256, made
    # training the slowest step on 2 cores: 52 s of a 70 s mining of 20k x 20k)
    index.cp.niter = index.pq.cp.niter = 10
    index.pq.cp.max_points_per_centroid = 64
    index.train(np.ascontiguousarray(sample, np.float32))
    return index


def _gather(store: DiskArray, rows: np.ndarray, block: int = 65_536) -> np.ndarray:
    """Rows (sorted) of ``store``, read block by block."""
    out = []
    for a in range(0, len(store), block):
        b = min(len(store), a + block)
        sel = rows[(rows >= a) & (rows < b)]
        if len(sel):
            out.append(store.read(a, b)[sel - a])
    return np.concatenate(out)


def sharded_knn(queries: DiskArray, base: DiskArray, trained, k: int, out: Path, shard: int = 200_000,
                chunk: int = 20_000, nprobe: int = 16, candidates: int | None = None, progress=None) -> tuple[DiskArray, DiskArray]:
    """Top-``k`` inner-product neighbours in ``base`` of every row of ``queries``: (similarities, indices) as
    DiskArrays under ``out``. The PQ search proposes ``candidates`` (default 2k) per query per shard; their
    exact similarity (fp16 vectors of the shard in memory) decides the top-k."""
    faiss = _faiss()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    k = min(k, len(base))
    c = min(candidates or 2 * k, len(base))
    sims = DiskArray(out / "sims.f32", (len(queries), k), np.float32, fill=-np.inf)
    ids = DiskArray(out / "ids.i64", (len(queries), k), np.int64, fill=-1)
    # every shard shares the trained quantiser, so each query's nprobe nearest lists are found once, not per shard
    nprobe = min(nprobe, trained.nlist)
    lists = DiskArray(out / "lists.i64", (len(queries), nprobe), np.int64)
    list_sims = DiskArray(out / "lists.f32", (len(queries), nprobe), np.float32)
    for a0 in range(0, len(queries), chunk):
        d, i = trained.quantizer.search(queries.read(a0, min(len(queries), a0 + chunk)).astype(np.float32), nprobe)
        lists.write(a0, i)
        list_sims.write(a0, d)
    for b0 in range(0, len(base), shard):
        b1 = min(len(base), b0 + shard)
        vectors = base.read(b0, b1)                                  # fp16, this shard only
        index = faiss.clone_index(trained)
        for a in range(0, len(vectors), chunk):
            index.add(vectors[a:a + chunk].astype(np.float32))
        index.nprobe = nprobe
        for a0 in range(0, len(queries), chunk):
            a1 = min(len(queries), a0 + chunk)
            q = queries.read(a0, a1).astype(np.float32)
            _, cand = index.search_preassigned(q, min(c, b1 - b0), lists.read(a0, a1), list_sims.read(a0, a1))
            valid = cand >= 0
            cand = np.where(valid, cand, 0)
            exact = np.stack([(q * vectors[cand[:, j]]).sum(1) for j in range(cand.shape[1])], 1)
            exact[~valid] = -np.inf
            s = np.hstack([sims.read(a0, a1), exact])
            i = np.hstack([ids.read(a0, a1), np.where(valid, cand + b0, -1)])
            order = np.argsort(-s, axis=1, kind="stable")[:, :k]
            sims.write(a0, np.take_along_axis(s, order, 1))
            ids.write(a0, np.take_along_axis(i, order, 1))
            progress and progress(a1 - a0, b0, b1)
        del index, vectors
    for a in (lists, list_sims):
        a.close()
        a.path.unlink()
    return sims, ids


def mean_similarity(sims: DiskArray, chunk: int = 200_000) -> np.ndarray:
    """Each row's mean neighbour similarity (4 bytes per sentence: the one array that grows with the pool)."""
    return np.concatenate([sims.read(a, min(len(sims), a + chunk)).mean(1) for a in range(0, len(sims), chunk)])


def best_by_margin(sims: DiskArray, ids: DiskArray, r_self: np.ndarray, r_other: np.ndarray,
                   chunk: int = 200_000) -> tuple[np.ndarray, np.ndarray]:
    """For every query: its best neighbour by ratio margin cos / ((r_self + r_other[j]) / 2), and that margin."""
    best, score = [], []
    for a0 in range(0, len(sims), chunk):
        a1 = min(len(sims), a0 + chunk)
        s, i = sims.read(a0, a1), ids.read(a0, a1)
        m = s / np.maximum((r_self[a0:a1, None] + r_other[np.maximum(i, 0)]) / 2, 1e-6)
        m[i < 0] = -np.inf
        arg = m.argmax(1)
        rows = np.arange(a1 - a0)
        best.append(i[rows, arg])
        score.append(m[rows, arg])
    return np.concatenate(best), np.concatenate(score).astype(np.float32)


def sharded_margin_mine(X: DiskArray, Y: DiskArray, work: Path, k: int = 4, mode: str = "intersect",
                        threshold: float = 1.0, shard: int = 200_000, chunk: int = 20_000, nprobe: int = 16,
                        sample: int = 100_000, seed: int = 0, progress=None) -> list[tuple[float, int, int]]:
    """``mine.margin_mine`` for pools on disk: [(margin, i, j)] best first, one pair per sentence."""
    if X.shape[1] != Y.shape[1]:
        raise UnmtError(f"{X.path} and {Y.path}: vectors of {X.shape[1]} and {Y.shape[1]} dims -- encode both "
                        "pools with the same encoder")
    work = Path(work)
    # one quantiser for both directions, trained on both pools, so neither side's distribution owns it
    rng = np.random.default_rng(seed)
    parts = [_gather(P, np.sort(rng.choice(len(P), min(len(P), sample // 2), replace=False))) for P in (X, Y)]
    trained = train_index(np.concatenate(parts).astype(np.float32), max(len(X), len(Y)))
    del parts
    fs, fi = sharded_knn(X, Y, trained, k, work / "forward", shard, chunk, nprobe,
                         progress=progress and (lambda n, a, b: progress("forward", n, a, b)))
    bs, bi = sharded_knn(Y, X, trained, k, work / "backward", shard, chunk, nprobe,
                         progress=progress and (lambda n, a, b: progress("backward", n, a, b)))
    rx, ry = mean_similarity(fs), mean_similarity(bs)
    fwd, fwd_score = best_by_margin(fs, fi, rx, ry, chunk)
    bwd, bwd_score = best_by_margin(bs, bi, ry, rx, chunk)
    for a in (fs, fi, bs, bi):
        a.close()
    if mode == "intersect":   # vectorised: mutual best pairs (each sentence at most once by construction)
        i = np.nonzero((fwd >= 0) & (bwd[np.maximum(fwd, 0)] == np.arange(len(fwd))) & (fwd_score >= threshold))[0]
        order = np.argsort(-fwd_score[i], kind="stable")
        return [(float(fwd_score[x]), int(x), int(fwd[x])) for x in i[order]]
    try:
        cands = combine_directions(fwd, bwd, mode, fwd_score, bwd_score)
    except ValueError as e:
        raise UnmtError(f"mining mode: {e}") from None
    used_x, used_y, out = set(), set(), []
    for s, i, j in sorted(cands, reverse=True):
        if s >= threshold and j >= 0 and i not in used_x and j not in used_y:
            used_x.add(i)
            used_y.add(j)
            out.append((s, i, j))
    return out

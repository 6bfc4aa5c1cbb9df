"""Nearest-neighbour search for lexicon induction and mining: faiss for every search.

Exact (flat) inner-product indexes up to ``exact_limit`` vectors, IVF beyond it, on the GPU when
faiss-gpu sees one. Where faiss is not installed (a GPU machine with only torch), or with
``UNMT_SEARCH=torch``, the same calls run an exact search in torch, on CUDA when present. CSLS (Conneau et al. 2018) is

    CSLS(x, y) = 2 cos(x, y) - r_T(y) - r_S(x),   r = mean cosine to the k nearest neighbours,

and for retrieval r_S(x) is constant per query, so argmax_y CSLS = argmax_y [2x, -1] . [y, r_T(y)]:
an exact inner-product search that faiss does without ever forming the similarity matrix.
"""
from __future__ import annotations

import os

import numpy as np

try:
    import faiss
except ImportError:  # the torch fallback below takes over
    faiss = None

BACKEND = os.environ.get("UNMT_SEARCH") or ("faiss" if faiss is not None else "torch")


class TorchExactIndex:
    """Exact inner-product k-NN in torch with faiss's ``add``/``search`` interface (chunked matmul + topk)."""

    def __init__(self, d: int, chunk: int = 8192):
        import torch

        self.d, self.chunk, self.torch = d, chunk, torch
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.base = torch.empty(0, d, device=self.device)

    @property
    def ntotal(self) -> int:
        return self.base.shape[0]

    def add(self, x: np.ndarray) -> None:
        self.base = self.torch.cat([self.base, self.torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(self.device)])

    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        torch, sims, idx = self.torch, [], []
        q = torch.from_numpy(np.ascontiguousarray(q, np.float32))
        for a in range(0, len(q), self.chunk):
            s, i = (q[a:a + self.chunk].to(self.device) @ self.base.T).topk(k, dim=1)
            sims.append(s.cpu().numpy())
            idx.append(i.cpu().numpy())
        if not sims:
            return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
        return np.concatenate(sims), np.concatenate(idx).astype(np.int64)


def build_index(base: np.ndarray, kind: str = "auto", exact_limit: int = 200_000, nprobe: int = 16):
    """kind: flat (exact) | ivf | ivfpq | auto (flat up to ``exact_limit`` vectors, ivf above)."""
    base = np.ascontiguousarray(base, dtype=np.float32)
    n, d = base.shape
    if BACKEND == "torch":  # exact whatever ``kind`` asks: no approximate index without faiss
        index = TorchExactIndex(d)
        index.add(base)
        return index
    if kind == "auto":
        kind = "flat" if n <= exact_limit else "ivf"
    if kind == "flat":
        index = faiss.IndexFlatIP(d)
    elif kind in ("ivf", "ivfpq"):  # 4 sqrt(n) lists trained on a sample; nprobe of them scanned per query
        nlist = max(1, int(4 * np.sqrt(n)))
        quantizer = faiss.IndexFlatIP(d)
        if kind == "ivf":
            index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
        else:  # product quantisation: d/4 sub-vectors of 8 bits, ~16x less memory than float32
            m = max(m for m in range(1, d // 4 + 1) if d % m == 0)
            index = faiss.IndexIVFPQ(quantizer, d, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
        index.train(base[np.random.RandomState(0).choice(n, min(n, max(64 * nlist, 10_000)), replace=False)])
        index.nprobe = nprobe
    else:
        raise ValueError(f"unknown index kind '{kind}' -- use auto, flat, ivf or ivfpq")
    if hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0:
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    index.add(base)
    return index


def knn(queries: np.ndarray, base: np.ndarray, k: int, kind: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Inner-product k-NN: (similarities, indices), best first."""
    index = build_index(base, kind)
    return index.search(np.ascontiguousarray(queries, dtype=np.float32), min(k, base.shape[0]))


def mean_knn_similarity(queries: np.ndarray, base: np.ndarray, k: int = 10, kind: str = "auto") -> np.ndarray:
    sims, _ = knn(queries, base, k, kind)
    return sims.mean(axis=1)


def csls_retrieve(S: np.ndarray, T: np.ndarray, k: int = 10, topn: int = 10, kind: str = "auto",
                  hub_queries: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-``topn`` targets for every source row by CSLS: (scores, indices). A target's hubness r_T is
    measured against ``hub_queries`` (default: S itself; P@k queries a few gold words but measures
    hubness against the whole source vocabulary)."""
    r_t = mean_knn_similarity(T, S if hub_queries is None else hub_queries, k, kind)
    r_s = mean_knn_similarity(S, T, k, kind)
    queries = np.hstack([2 * S, -np.ones((len(S), 1), dtype=np.float32)])
    base = np.hstack([T, r_t[:, None].astype(np.float32)])
    scores, idx = knn(queries, base, topn, kind)
    return scores - r_s[:, None], idx


def combine_directions(fwd: np.ndarray, bwd: np.ndarray, mode: str, fwd_scores: np.ndarray | None = None,
                       bwd_scores: np.ndarray | None = None) -> list[tuple[float, int, int]]:
    """The one switch for how forward and backward nearest neighbours make a dictionary (MUSE's
    ``dico_build``: S2T, T2S, S2T|T2S, S2T&T2S), used by lexicon refinement, VecMap and mining.

    ``fwd[i]``: the best target of source i; ``bwd[j]``: the best source of target j. Returns
    (score, i, j) candidates: forward = every (i, fwd[i]); backward = every (bwd[j], j); max = both
    (a pair found both ways once, with its forward score); intersect = pairs found both ways."""
    fs = np.zeros(len(fwd)) if fwd_scores is None else fwd_scores
    bs = np.zeros(len(bwd)) if bwd_scores is None else bwd_scores
    forward = [(float(fs[i]), i, int(j)) for i, j in enumerate(fwd)]
    if mode == "forward":
        return forward
    if mode == "intersect":
        return [c for c in forward if bwd[c[2]] == c[1]]
    backward = [(float(bs[j]), int(i), j) for j, i in enumerate(bwd)]
    if mode == "backward":
        return backward
    if mode == "max":
        return forward + [c for c in backward if fwd[c[1]] != c[2]]
    raise ValueError(f"unknown mode '{mode}' -- use forward, backward, max or intersect")

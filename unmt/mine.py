"""Stage 4 — mine: margin-scored bitext mining between the two monolingual pools (Artetxe & Schwenk 2019).

Sentences are embedded with the shared LM's encoder (mean-pooled, unit length), k-NN is searched
both ways with faiss, and each candidate pair is scored by the ratio margin
    margin(x, y) = cos(x, y) / ( (sum_{z in NN_k(x)} cos(x, z) + sum_{z in NN_k(y)} cos(y, z)) / 2k ),
which discounts "hub" sentences that are close to everything. Output: TSV ``score<TAB>src<TAB>tgt``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from unmt.align import knn
from unmt.errors import UnmtError


def embed_sentences(translator, lines: list[str], lang: str, batch_size: int = 64, progress=None) -> np.ndarray:
    import torch
    from fairseq.data import data_utils

    model, d = translator.model, translator.dict
    src_idx = translator.check_lang(lang)
    out = []
    with torch.no_grad():
        for start in range(0, len(lines), batch_size):
            toks = [translator.encode(line, src_idx, max_len=200) for line in lines[start:start + batch_size]]
            src = data_utils.collate_tokens(toks, d.pad(), left_pad=False)
            enc = model.encoder(src, src_lengths=torch.tensor([len(t) for t in toks]))
            states = enc["encoder_out"][0].transpose(0, 1)                    # B x T x C
            mask = (~enc["encoder_padding_mask"][0]).unsqueeze(-1).float()   # B x T x 1
            mask[:, 0] = 0                                                     # skip the language tag
            pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
            if progress:
                progress(len(toks))
    return np.concatenate(out).astype(np.float32)


def margin_mine(X: np.ndarray, Y: np.ndarray, k: int = 4, mode: str = "max", threshold: float = 1.0):
    """Return [(score, i, j)] mined pairs, best first. mode: forward | backward | max | intersect."""
    if len(X) == 0 or len(Y) == 0:
        raise UnmtError("mining needs two non-empty pools -- give sentences in both languages")
    k = min(k, len(X), len(Y))
    sx, ix = knn(X, Y, k)  # forward neighbours
    sy, iy = knn(Y, X, k)  # backward neighbours
    rx, ry = sx.mean(1), sy.mean(1)
    # ratio margin of every neighbour, from the cosines faiss already returned
    mf = sx / ((rx[:, None] + ry[ix]) / 2)
    mb = sy / ((ry[:, None] + rx[iy]) / 2)
    af, ab = mf.argmax(1), mb.argmax(1)
    best_f = {i: (float(mf[i, af[i]]), int(ix[i, af[i]])) for i in range(len(X))}
    best_b = {j: (float(mb[j, ab[j]]), int(iy[j, ab[j]])) for j in range(len(Y))}
    if mode == "forward":
        cands = [(s, i, j) for i, (s, j) in best_f.items()]
    elif mode == "backward":
        cands = [(s, i, j) for j, (s, i) in best_b.items()]
    elif mode == "intersect":
        cands = [(s, i, j) for i, (s, j) in best_f.items() if best_b[j][1] == i]
    elif mode == "max":
        cands = list({(i, j): (s, i, j) for i, (s, j) in best_f.items()}.values())
        cands += [(s, i, j) for j, (s, i) in best_b.items() if best_f[i][1] != j]
    else:
        raise UnmtError(f"unknown mining mode '{mode}' -- use forward, backward, max or intersect")
    # one pair per sentence on either side, best first
    used_x, used_y, out = set(), set(), []
    for s, i, j in sorted(cands, reverse=True):
        if s >= threshold and i not in used_x and j not in used_y:
            used_x.add(i)
            used_y.add(j)
            out.append((s, i, j))
    return out


def mine_bitext(translator, src_lines, tgt_lines, src, tgt, out: Path, k=4, mode="max", threshold=1.0) -> int:
    from unmt.io import write_lines

    X = embed_sentences(translator, src_lines, src)
    Y = embed_sentences(translator, tgt_lines, tgt)
    pairs = margin_mine(X, Y, k, mode, threshold)
    return write_lines(out, (f"{s:.4f}\t{src_lines[i]}\t{tgt_lines[j]}" for s, i, j in pairs))

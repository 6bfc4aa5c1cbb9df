"""The mapping methods, behind one dispatch (``map_direction``): ``identical`` (seeds spelled alike with
consistent frequency ranks), ``vecmap`` (Artetxe et al. 2018: sorted similarity profiles, stochastic
self-learning), ``adversarial`` (MUSE: a discriminator game from matched principal axes), ``supervised``
(Procrustes on a seed dictionary), each followed by MUSE refinement; and ``context`` (Rapp 1999; Fung & Yee
1998), which maps no spaces: words are matched by their co-occurrence with anchors spelled alike, grown
round by round among candidates of similar frequency."""
from __future__ import annotations

import time
import typing

import numpy as np

from unmt.config import AdversarialStart, AlignConfig, AlignMethod
from unmt.errors import UnmtError
from unmt.search import combine_directions, csls_retrieve
from unmt.align.criteria import criteria, frequency_agreement_of, selection_criterion
from unmt.align.evaluation import precision_at_k, precision_of
from unmt.align.vectors import normalise


UNSUPERVISED = typing.get_args(AlignMethod)


ADVERSARIAL_STARTS = typing.get_args(AdversarialStart)


# ----------------------------------------------------------------------------- induction
def procrustes(S: np.ndarray, T: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Orthogonal W minimising ||S[i] W - T[j]|| over the pairs: W = U V^T, U S V^T = svd(S_i^T T_j)."""
    u, _, vt = np.linalg.svd(S[pairs[:, 0]].T @ T[pairs[:, 1]])
    return (u @ vt).astype(np.float32)


def mutual_csls_pairs(SW: np.ndarray, T: np.ndarray, max_rank: int, k: int = 10) -> np.ndarray:
    """Pairs (i, j) among the ``max_rank`` most frequent words that are each other's CSLS best match."""
    S_, T_ = SW[:max_rank], T[:max_rank]
    _, fwd = csls_retrieve(S_, T_, k, 1)
    _, bwd = csls_retrieve(T_, S_, k, 1)
    pairs = combine_directions(fwd[:, 0], bwd[:, 0], "intersect")
    return np.array([(i, j) for _, i, j in pairs], dtype=np.int64).reshape(-1, 2)


def identical_pairs(src_words: list[str], tgt_words: list[str], max_rank_ratio: float | None = 2.0) -> np.ndarray:
    """Words spelled the same in both vocabularies (lists are frequency-ranked), kept only when their
    frequency ranks agree within ``max_rank_ratio``: a French corpus quotes English ("the", "of" in
    code samples), and such words are frequent in one language only, so they are not translations."""
    where = {w: j for j, w in enumerate(tgt_words)}
    pairs = [(i, where[w]) for i, w in enumerate(src_words) if w in where]
    if max_rank_ratio:
        pairs = [(i, j) for i, j in pairs if max(i + 1, j + 1) / min(i + 1, j + 1) <= max_rank_ratio]
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def csls_dictionary(SW: np.ndarray, T: np.ndarray, keep_prob: float, rng, k: int = 10,
                    candidates: int = 50) -> tuple[np.ndarray, float]:
    """VecMap's dictionary induction: each word's best CSLS match, both directions (union), where every
    candidate survives with probability ``keep_prob`` (stochastic dictionary induction, which lets
    self-learning escape a poor start). The faiss top-``candidates`` stand in for the full row."""
    chosen, objective = [], []
    for A, B in ((SW, T), (T, SW)):
        scores, idx = csls_retrieve(A, B, k, min(candidates, len(B)))
        if keep_prob < 1:
            scores = np.where(rng.random_sample(scores.shape) < keep_prob, scores, -np.inf)
        best = scores.argmax(1)
        chosen.append(idx[np.arange(len(A)), best])
        objective.append(np.max(scores, axis=1)[np.isfinite(np.max(scores, axis=1))])
    pairs = [(i, j) for _, i, j in combine_directions(chosen[0], chosen[1], "max")]
    return np.unique(np.array(pairs, dtype=np.int64), axis=0), float(np.concatenate(objective).mean())


def vecmap_init(S: np.ndarray, T: np.ndarray, size: int = 4000, k: int = 10) -> np.ndarray:
    """Initial dictionary from similarity distributions: under an isometry a word's sorted similarities
    to the vocabulary are the same in both languages, so matching sorted profiles needs no seed."""
    n = min(size, len(S), len(T))

    def profile(X):
        u, s, _ = np.linalg.svd(X[:n], full_matrices=False)
        sim = (u * s) @ u.T           # (X X^T)^(1/2): VecMap's similarity, less skewed than X X^T
        sim.sort(axis=1)
        return normalise(sim)

    ps, pt = profile(S), profile(T)
    _, fwd = csls_retrieve(ps, pt, k, 1)
    _, bwd = csls_retrieve(pt, ps, k, 1)
    pairs = [(i, j) for _, i, j in combine_directions(fwd[:, 0], bwd[:, 0], "max")]
    return np.unique(np.array(pairs, dtype=np.int64), axis=0)


def principal_axes_map(S: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Orthogonal map taking S's principal axes onto T's, each axis's sign fixed by the skew of the data
    along it. An isometry carries principal axes along, so this start needs no seed; it is exact only
    when the spectra are well separated and the vocabularies cover the same things."""
    def axes(X):
        X = X - X.mean(0)
        _, _, vt = np.linalg.svd(X, full_matrices=False)
        return vt.T * np.sign(np.mean((X @ vt.T) ** 3, axis=0) + 1e-12)
    return (axes(S) @ axes(T).T).astype(np.float32)


def adversarial_init(S: np.ndarray, T: np.ndarray, steps: int = 3000, most_frequent: int = 5000,
                     batch: int = 32, dis_steps: int = 5, lr: float = 0.1, beta: float = 0.001,
                     smooth: float = 0.1, hidden: int = 512, seed: int = 0, checks: int = 10,
                     start: str | np.ndarray = "pca") -> np.ndarray:
    """MUSE's adversarial mapping: W fools a discriminator between S W and T, orthogonalised after each
    step (W <- (1+b) W - b W W^T W); of the start and ``checks`` snapshots the best by the selection
    criterion wins. ``start``: "identity" (MUSE), "pca" (principal axes, ``principal_axes_map``) or a
    matrix. Why not identity by default: the game has many local optima on the orthogonal group; from an
    arbitrary start (identity between two independent spaces is one) it stalls in one (P@1 ~0 on the
    synthetic test spaces), from a start inside the right basin it converges (see tests/test_align.py)."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.RandomState(seed)
    d = S.shape[1]
    Xs, Xt = torch.from_numpy(S[:most_frequent]), torch.from_numpy(T[:most_frequent])
    if isinstance(start, str):
        if start not in ADVERSARIAL_STARTS:
            raise ValueError(f"start: unknown '{start}' -- use {', '.join(ADVERSARIAL_STARTS)} or a matrix")
        start = principal_axes_map(S[:most_frequent], T[:most_frequent]) if start == "pca" else np.eye(d)
    W = torch.nn.Linear(d, d, bias=False)
    W.weight.data.copy_(torch.from_numpy(np.asarray(start, dtype=np.float32).T))
    D = torch.nn.Sequential(torch.nn.Dropout(0.1), torch.nn.Linear(d, hidden), torch.nn.LeakyReLU(0.2),
                            torch.nn.Linear(hidden, hidden), torch.nn.LeakyReLU(0.2), torch.nn.Linear(hidden, 1))
    opt_w, opt_d = torch.optim.SGD(W.parameters(), lr=lr), torch.optim.SGD(D.parameters(), lr=lr)
    bce = torch.nn.BCEWithLogitsLoss()
    y_dis = torch.tensor([1 - smooth] * batch + [smooth] * batch).unsqueeze(1)  # 1 = "mapped source"

    def batch_pair():
        return Xs[rng.randint(len(Xs), size=batch)], Xt[rng.randint(len(Xt), size=batch)]

    best_W = np.asarray(start, dtype=np.float32)
    best = selection_criterion(S @ best_W, T)
    for step in range(1, steps + 1):
        D.train()
        for _ in range(dis_steps):
            src, tgt = batch_pair()
            with torch.no_grad():
                mapped = W(src)
            loss = bce(D(torch.cat([mapped, tgt])), y_dis)
            opt_d.zero_grad()
            loss.backward()
            opt_d.step()
        D.eval()
        src, tgt = batch_pair()
        loss = bce(D(torch.cat([W(src), tgt])), 1 - y_dis)  # the mapping wants the labels swapped
        opt_w.zero_grad()
        loss.backward()
        opt_w.step()
        with torch.no_grad():
            w = W.weight.data
            w.copy_((1 + beta) * w - beta * w @ w.t() @ w)
        if step % max(1, steps // checks) == 0:
            u, _, vt = np.linalg.svd(W.weight.data.t().numpy())
            M = u @ vt  # the nearest orthogonal matrix: beta-orthogonalisation only keeps W close to one
            score = selection_criterion(S @ M, T)
            if score > best:
                best, best_W = score, M
    return best_W.astype(np.float32)


def context_vectors(P, rows: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Each row word's PPMI with the anchor words as its only contexts, unit length: the coordinates a
    word has in both languages at once, once the anchors are paired."""
    X = P[rows][:, anchors].toarray().astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True).clip(1e-8)


def rank_filtered_csls(A: np.ndarray, B: np.ndarray, src_ranks: np.ndarray, tgt_ranks: np.ndarray,
                       max_rank_ratio: float | None, topn: int = 10, candidates: int = 50) -> np.ndarray:
    """Top-``topn`` CSLS targets per source row, those whose frequency rank is within ``max_rank_ratio`` of
    the source's first: one domain's two corpora use a word and its translation about as often."""
    scores, idx = csls_retrieve(A, B, 10, min(candidates, len(B)))
    if max_rank_ratio:
        rs, rt = src_ranks[:, None] + 1.0, tgt_ranks[idx] + 1.0
        scores = np.where(np.maximum(rs / rt, rt / rs) <= max_rank_ratio, scores, scores - 100.0)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :topn]
    return np.take_along_axis(idx, order, axis=1)


class TooFewSeeds(UnmtError):
    """A method found no dictionary to start from (identical strings between two scripts): with other
    methods in the recipe it is skipped, alone it is the stage's error."""


def context_lexicon(Ps, Pt, src_vocab: list[str], tgt_vocab: list[str], src_words: list[str],
                    tgt_words: list[str], iterations: int = 5, max_rank: int = 3000,
                    max_rank_ratio: float | None = 2.0, gold=None) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Rapp (1999), Fung & Yee (1998): a word and its translation co-occur with translations of each other.
    ``Ps``/``Pt``: ``ppmi_matrix`` of each language over ``src_vocab``/``tgt_vocab``. The anchors start as the
    tokens spelled alike in both texts with agreeing frequency ranks (numbers, product names, markup kept
    in a translated page); each word is described by its PPMI with the anchors alone, words are matched
    across languages by CSLS among candidates of similar frequency, and the mutual best matches among the
    ``max_rank`` most frequent words join the anchors for the next of ``iterations`` rounds. No vector space
    is mapped, so it needs no isomorphism between two monolingual spaces -- what fails on small, distant
    corpora. Returns (best target per source word: indices into ``tgt_words``, the last round's mutual
    pairs in ``src_words``/``tgt_words`` indices, one history record per round)."""
    s_row = {w: i for i, w in enumerate(src_vocab)}
    t_row = {w: i for i, w in enumerate(tgt_vocab)}
    src_rows = np.array([s_row[w] for w in src_words])
    tgt_rows = np.array([t_row[w] for w in tgt_words])
    seeds = identical_pairs(src_vocab, tgt_vocab, max_rank_ratio)
    if len(seeds) < 2:
        raise TooFewSeeds(f"method 'context' starts from {len(seeds)} tokens spelled alike in both texts -- too few "
                          "anchors (try another method, or more text)")
    anchors, history, started = seeds, [], time.time()
    r = min(max_rank, len(src_words), len(tgt_words))
    for it in range(iterations + 1):
        A = context_vectors(Ps, src_rows, anchors[:, 0])
        B = context_vectors(Pt, tgt_rows, anchors[:, 1])
        idx = rank_filtered_csls(A, B, src_rows, tgt_rows, max_rank_ratio)
        back = rank_filtered_csls(B[:r], A[:r], tgt_rows[:r], src_rows[:r], max_rank_ratio, topn=1)[:, 0]
        fwd = rank_filtered_csls(A[:r], B[:r], src_rows[:r], tgt_rows[:r], max_rank_ratio, topn=1)[:, 0]
        pairs = np.array([(i, j) for _, i, j in combine_directions(fwd, back, "intersect")],
                         dtype=np.int64).reshape(-1, 2)
        rec = {"iteration": it, "dictionary_size": int(len(anchors)), "anchors_spelled_alike": int(len(seeds)),
               "frequency_agreement": round(frequency_agreement_of(idx[:, 0]), 4),
               "elapsed": round(time.time() - started, 2)}
        if gold is not None:
            rec.update(precision_of(idx, gold))
        history.append(rec)
        new = np.stack([src_rows[pairs[:, 0]], tgt_rows[pairs[:, 1]]], axis=1) if len(pairs) else seeds[:0]
        anchors = np.unique(np.vstack([seeds, new]), axis=0)
    return idx[:, 0], pairs, history


SCORE_EVERY = 10  # VecMap self-learning: iterations between two measurements of the criteria and P@1


def induce_lexicon(S: np.ndarray, T: np.ndarray, src_words: list[str], tgt_words: list[str], method: str,
                   a: AlignConfig, seed_pairs: np.ndarray | None = None, gold=None, seed: int = 0,
                   iterations: int | None = None, start: np.ndarray | None = None,
                   max_self_learning: int = 100) -> tuple[np.ndarray, list[dict]]:
    """Map S onto T with ``method`` (adversarial, vecmap, identical, supervised) and ``a``'s settings;
    returns W (S W ~ T) and one history record per iteration. ``iterations`` overrides ``a.iterations``;
    ``start`` replaces ``a.adversarial_start`` with a given map."""
    iterations = a.iterations if iterations is None else iterations
    max_rank, max_rank_ratio = a.max_rank, a.max_rank_ratio
    S, T = normalise(S), normalise(T)
    history: list[dict] = []
    started = time.time()

    def record(W, pairs, full: bool = True, **extra):
        # the criteria and P@1 take ~5x a VecMap iteration: its loop measures them every SCORE_EVERY iterations
        rec = {"iteration": len(history), "dictionary_size": int(len(pairs)),
               "elapsed": round(time.time() - started, 2), **extra}
        if full:
            SW = S @ W
            rec |= criteria(SW, T) | (precision_at_k(SW, T, gold) if gold is not None else {})
        history.append(rec)

    if method == "adversarial":
        W0 = adversarial_init(S, T, a.adversarial_steps, min(max_rank, len(S), len(T)), seed=seed,
                              start=a.adversarial_start if start is None else start)
        pairs = mutual_csls_pairs(S @ W0, T, max_rank)
    elif method == "vecmap":
        pairs = vecmap_init(S, T, min(4000, max_rank))
    elif method == "identical":
        pairs = identical_pairs(src_words, tgt_words, max_rank_ratio)
    elif method == "supervised":
        pairs = seed_pairs
    else:
        raise UnmtError(f"unknown method '{method}' -- use adversarial, vecmap, identical or supervised")
    if pairs is None or len(pairs) < 2:
        raise TooFewSeeds(f"method '{method}' starts from {0 if pairs is None else len(pairs)} seed pairs -- "
                          "too few for Procrustes (try another method, or more text)")

    if method == "vecmap":  # self-learning; keep_prob doubles whenever the objective stalls (VecMap)
        rng, keep, best, last = np.random.RandomState(seed), 0.1, -np.inf, 0
        r = min(max_rank, len(S), len(T))
        for it in range(max_self_learning):
            W = procrustes(S, T, pairs)
            pairs, objective = csls_dictionary(S[:r] @ W, T[:r], keep, rng)
            record(W, pairs, full=it % SCORE_EVERY == 0, keep_prob=keep, objective=round(objective, 4))
            if objective > best + 1e-4:
                best, last = objective, it
            elif it - last >= a.stochastic_interval:
                if keep >= 1:
                    break
                keep, last = min(1.0, 2 * keep), it
        if "frequency_agreement" not in history[-1]:  # the map returned is always scored
            last_rec = history.pop()
            record(W, pairs, **{k: v for k, v in last_rec.items() if k not in ("iteration", "dictionary_size", "elapsed")})
        return W, history

    for it in range(iterations + 1):  # MUSE refinement
        W = procrustes(S, T, pairs)
        record(W, pairs)
        if it < iterations:
            new = mutual_csls_pairs(S @ W, T, max_rank)
            if method == "supervised":  # keep the seeds, add what refinement finds
                new = np.unique(np.vstack([seed_pairs, new]), axis=0)
            pairs = new if len(new) >= 2 else pairs
    return W, history


def lexicon_from_mapping(S: np.ndarray, T: np.ndarray, W: np.ndarray, src_words, tgt_words) -> dict[str, str]:
    SW, T = normalise(S) @ W, normalise(T)
    _, idx = csls_retrieve(SW, T, 10, 1)
    return {w: tgt_words[j] for w, j in zip(src_words, idx[:, 0])}


def map_direction(method: str, S: np.ndarray, T: np.ndarray, src_words: list[str], tgt_words: list[str],
                  a: AlignConfig, seed: int = 0, gold=None,
                  contexts: tuple | None = None) -> tuple[np.ndarray, list[dict], dict[str, str] | None]:
    """One direction, one method: (W, history, lexicon). Every method gives a map W, which the mine stage
    reads; ``context`` also gives its own lexicon (W is then Procrustes on the pairs it found), the mapping
    methods None (their lexicon is W's CSLS translations). ``contexts``: (source, target) ``ppmi_matrix``."""
    if method != "context":
        W, hist = induce_lexicon(S, T, src_words, tgt_words, method, a, gold=gold, seed=seed)
        return W, hist, None
    if not contexts:
        raise UnmtError("align.methods: 'context' needs the texts' PPMI contexts -- use it in a recipe "
                        "(align.vectors: ppmi), not on .vec files")
    (src_vocab, Ps), (tgt_vocab, Pt) = contexts
    best, pairs, hist = context_lexicon(Ps, Pt, src_vocab, tgt_vocab, src_words, tgt_words, a.iterations,
                                        a.max_rank, a.max_rank_ratio, gold=gold)
    Sn, Tn = normalise(S), normalise(T)
    W = procrustes(Sn, Tn, pairs) if len(pairs) >= 2 else np.eye(S.shape[1], dtype=np.float32)
    hist[-1]["criterion"] = round(selection_criterion(Sn @ W, Tn), 4)
    return W, hist, {w: tgt_words[j] for w, j in zip(src_words, best)}

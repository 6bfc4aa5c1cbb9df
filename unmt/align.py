"""Stage 3 — align: bilingual lexicon induction from two monolingual embedding spaces (MUSE / VecMap).

Word vectors come from each language's own monolingual text (PPMI+SVD), from the shared LM's
encoder, or from ``.vec`` files (word2vec/fastText text format). The spaces are normalised (unit,
centre, unit: VecMap's recipe) and mapped by an orthogonal W found by one of these methods:

- ``adversarial`` (MUSE, Conneau et al. 2018): a discriminator learns to tell mapped source vectors
  from target vectors while W learns to fool it (kept orthogonal); then Procrustes refinement. The game
  starts from the map between the two spaces' principal axes (``adversarial_start: pca``), not MUSE's
  identity, because from an arbitrary start it stalls in a local optimum;
- ``vecmap`` (Artetxe et al. 2018): an initial dictionary from each word's *sorted* similarity profile,
  which an isometry leaves unchanged, then self-learning with stochastic CSLS dictionary induction;
- ``identical``: identical strings with consistent frequency ranks as seeds, then refinement;
- ``context`` (Rapp 1999; Fung & Yee 1998, who built it for English-Chinese): no mapping of two spaces.
  Each word is described by its co-occurrence (PPMI) with anchor words; the anchors start as the tokens
  spelled alike in both texts (numbers, product names), words are matched across languages by CSLS
  among candidates of similar frequency, and the mutual best matches become anchors for the next round.
  It needs co-occurrence, not isomorphism between two monolingual spaces, which small, distant corpora
  lack (on en-zh supervised Procrustes on the PPMI vectors reaches only P@1 ~6). Its lexicon is its own;
  the mine stage gets Procrustes on its pairs as the mapping;
- ``supervised``: Procrustes on a seed dictionary (the reference point), then refinement.

Refinement (MUSE): orthogonal Procrustes on the current dictionary -> mutual CSLS nearest
neighbours among frequent words -> new dictionary. Every search runs in faiss (``unmt/search.py``).
Reported: P@1/5/10 on a held-out MUSE-format dictionary and two unsupervised selection criteria, each
beside its value under a random rotation, so an alignment that found nothing says so:

- ``frequency`` (the default ``align.criterion``): the Spearman correlation between the frequency ranks of
  the 3,000 most frequent source words and the ranks of their CSLS translations. Two monolingual corpora
  of one domain use a word and its translation about as often, and the normalised vectors every method
  maps carry no frequency, so no method can fit this signal: it is held out from all of them.
- ``muse``: MUSE's mean cosine of the CSLS translations of the 10,000 most frequent words. VecMap's
  self-learning maximises nearly this very quantity, and on small corpora it finds a wrong map that
  scores higher than the right one (en-fr here: vecmap 0.42 at P@1 0.69 against identical 0.38 at 14.2),
  so this criterion picks vecmap. docs/results.md (lexicon-en-fr/de/zh) has both criteria against P@1.

Two biases to know: ``identical`` keeps only seeds whose frequency ranks agree within ``max_rank_ratio``,
so its start already agrees in frequency; refinement then moves on with no frequency in sight. ``context``
chooses every translation among candidates of similar frequency rank, so its lexicon agrees in frequency by
construction: for it the frequency criterion is not held-out evidence, and P@1 is what to read.
Tried as criteria independent of every method and not kept, each scored on held-out words (every tenth of
the 3,000 most frequent, none spelled alike, left out of every dictionary and anchor set): their round trip
(word -> translation -> back; a random rotation scores 0.40-0.59, above every method, on lexicon-5's en-de
and en-zh); their frequency agreement under plain CSLS (context vectors agree in frequency by themselves:
with the anchors paired at random, 0.29-0.40 against 0.44 paired right on en-zh); and how many of their
co-occurring pairs translate to co-occurring pairs beyond a frequency-matched shuffle (right order on en-zh
and en-de, margins of 0.01-0.02 within the shuffle's noise; only 154 such pairs on en-fr).
"""
from __future__ import annotations

import collections
import re
import sys
import time
import typing
from pathlib import Path

import numpy as np

from unmt.config import AdversarialStart, AlignCriterion, AlignMethod
from unmt.errors import UnmtError, fail
from unmt.layout import RunLayout
from unmt.search import combine_directions, csls_retrieve, knn
from unmt.segment import words as line_words

UNSUPERVISED = typing.get_args(AlignMethod)
ADVERSARIAL_STARTS = typing.get_args(AdversarialStart)
CRITERIA = typing.get_args(AlignCriterion)
WORD_RE = re.compile(r"^[^\W\d_]+(?:-[^\W\d_]+)*$")


# ----------------------------------------------------------------------------- embeddings
def ppmi_matrix(lines: list[str], lang: str, max_words: int = 10000, min_count: int = 2,
                window: int = 5) -> tuple[list[str], "scipy.sparse.csr_matrix"]:
    """The ``max_words`` most frequent tokens (``min_count``+, numbers included: they are contexts too),
    frequency-ranked, and their positive PMI with each other as window contexts (Levy & Goldberg 2014,
    word2vec's 0.75 context smoothing): words x contexts, both in vocabulary order."""
    import scipy.sparse as sps

    sents = [line_words(line, lang) for line in lines]
    counts = collections.Counter(w for s in sents for w in s)
    vocab = [w for w, c in counts.most_common(max_words) if c >= min_count]
    if len(vocab) < 10:
        raise UnmtError(f"only {len(vocab)} words occur {min_count}+ times -- give more monolingual text")
    index = {w: i for i, w in enumerate(vocab)}
    rows, cols = [], []
    for s in sents:
        ids = [index.get(w, -1) for w in s]
        for a, i in enumerate(ids):
            if i < 0:
                continue
            for b in range(max(0, a - window), min(len(ids), a + window + 1)):
                if b != a and ids[b] >= 0:
                    rows.append(i)
                    cols.append(ids[b])
    n = len(vocab)
    M = sps.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n)).tocsr().tocoo()
    total = M.data.sum()
    row_p = np.asarray(M.tocsr().sum(1)).ravel() / total
    col_p = np.asarray(M.tocsr().sum(0)).ravel() ** 0.75
    col_p /= col_p.sum()
    pmi = np.log(M.data / total / row_p[M.row] / col_p[M.col])
    keep = pmi > 0
    return vocab, sps.csr_matrix((pmi[keep], (M.row[keep], M.col[keep])), shape=(n, n))


def word_vectors_ppmi(lines: list[str], lang: str, max_words: int = 10000, min_count: int = 2, window: int = 5,
                      dim: int = 300, matrix: tuple | None = None) -> tuple[list[str], np.ndarray]:
    """Monolingual count-based vectors: ``ppmi_matrix`` (or ``matrix``, one already built from these lines),
    then a truncated SVD. One language at a time, as MUSE/VecMap assume: the spaces know nothing of each other."""
    from scipy.sparse.linalg import svds

    vocab, P = matrix or ppmi_matrix(lines, lang, max_words, min_count, window)
    n = len(vocab)
    u, sv, _ = svds(P, k=min(dim, n - 2), v0=np.random.RandomState(0).rand(n))  # deterministic start
    keep_rows = [i for i, w in enumerate(vocab) if WORD_RE.match(w)]
    return [vocab[i] for i in keep_rows], (u * np.sqrt(sv))[keep_rows].astype(np.float32)


def word_vectors_from_model(translator, lines: list[str], lang: str, max_words: int = 10000,
                            min_count: int = 2, batch_size: int = 64,
                            all_layers: bool = False) -> tuple[list[str], np.ndarray]:
    """Mean encoder state of each word over its occurrences. Words are the language's own (``unmt.segment``:
    jieba/MeCab where there are no spaces), matched to the pieces their characters fall in by character
    offsets, so a Chinese word inside a run of pieces gets its own vector; a word's state is the mean of
    its pieces'. ``all_layers``: words x (layers + 2) x dim -- the embedding table's rows, the embedded input
    (scaled, with positions: fairseq's first ``encoder_states``), then every encoder layer's output
    (``eval.lm_lexicon`` compares them); otherwise words x dim, the encoder's output."""
    import torch

    from unmt.segment import TOKEN_RE, segments

    model = translator.model
    sums: dict[str, np.ndarray] = {}
    counts: collections.Counter = collections.Counter()
    with torch.no_grad():
        for idx, src, lengths in translator.batches(lines, lang, batch_size, max_len=200):
            if all_layers:
                enc = model.encoder(src, src_lengths=lengths, return_all_hiddens=True)
                layers = [model.encoder.embed_tokens(src).float().numpy()]
                layers += [s.transpose(0, 1).float().numpy() for s in enc["encoder_states"]]
            else:
                layers = [model.encoder(src, src_lengths=lengths)["encoder_out"][0].transpose(0, 1).float().numpy()]
            for b, i in enumerate(idx):
                pieces = translator.sp.encode(lines[i], out_type=str)[:200]
                text = "".join(pieces).replace("\u2581", " ")  # SentencePiece's normalised line, char for char
                owner = np.repeat(np.arange(len(pieces)), [len(p) for p in pieces])
                pos = 0
                for seg in segments(text, lang):
                    for m in TOKEN_RE.finditer(seg):
                        word = m.group().lower()
                        if WORD_RE.match(word):
                            rows = np.unique(owner[pos + m.start(): pos + m.end()]) + 1  # +1: the language tag
                            vec = np.stack([layer[b, rows].mean(0) for layer in layers])
                            sums[word] = sums.get(word, 0) + (vec if all_layers else vec[0])
                            counts[word] += 1
                    pos += len(seg)
    words = [w for w, c in counts.most_common(max_words) if c >= min_count]
    if not words:
        raise UnmtError(f"no words with count >= {min_count} in the {lang} text -- give more text")
    return words, np.stack([sums[w] / counts[w] for w in words]).astype(np.float32)


def word_vectors_from_embeddings(translator, lines: list[str], lang: str, max_words: int = 10000,
                                 min_count: int = 2) -> tuple[list[str], np.ndarray]:
    """Each frequent word's vector = the mean of its SentencePiece pieces' rows in the shared LM's
    embedding table (one table for both languages, so shared pieces already tie the spaces)."""
    counts = collections.Counter(w for line in lines for w in line_words(line, lang))
    vocab = [w for w, c in counts.most_common(max_words) if c >= min_count and WORD_RE.match(w)]
    if not vocab:
        raise UnmtError(f"no words occur {min_count}+ times -- give more monolingual text")
    table = translator.model.encoder.embed_tokens.weight.detach().numpy()
    d = translator.dict
    rows = [[d.index(p) for p in translator.sp.encode(w, out_type=str)] for w in vocab]
    return vocab, np.stack([table[r].mean(0) for r in rows]).astype(np.float32)


def normalise(X: np.ndarray) -> np.ndarray:
    X = X / np.linalg.norm(X, axis=1, keepdims=True).clip(1e-8)
    X = X - X.mean(axis=0, keepdims=True)
    return (X / np.linalg.norm(X, axis=1, keepdims=True).clip(1e-8)).astype(np.float32)


def read_vec(path: Path, max_words: int | None = None) -> tuple[list[str], np.ndarray]:
    """word2vec/fastText text format: a ``count dim`` header, then ``word v1 ... vdim`` per line
    (most frequent first, as published vectors are)."""
    path = Path(path)
    if not path.exists():
        raise fail(path, "embedding file not found", "give a .vec file (word2vec/fastText text format)")
    words, rows = [], []
    with open(path, encoding="utf-8", errors="strict") as f:
        try:
            header = f.readline().split()
            if len(header) != 2 or not all(x.isdigit() for x in header):
                raise fail(path, "has no 'count dim' header line", "write it in word2vec/fastText .vec text format")
            count, dim = int(header[0]), int(header[1])
            for n, line in enumerate(f, 2):
                if n - 1 > count:
                    raise fail(path, f"has more vectors than its header's {count}", "fix the header's word count")
                if max_words is not None and len(words) >= max_words:
                    break
                parts = line.rstrip("\n").rstrip().split(" ")
                if len(parts) != dim + 1:
                    raise fail(path, f"line {n} has {len(parts) - 1} values, the header says {dim}",
                               "fix or re-export the file")
                words.append(parts[0])
                rows.append(np.asarray(parts[1:], dtype=np.float32))
        except UnicodeDecodeError:
            raise fail(path, "is not valid UTF-8", "re-encode it, e.g. `iconv -t UTF-8`") from None
    if len(words) < min(count, max_words or count):
        raise fail(path, f"holds {len(words)} vectors but its header says {count}",
                   "the file is truncated or its header is wrong: re-export it")
    if len(words) < 10:
        raise fail(path, f"holds only {len(words)} vectors", "give a vocabulary of at least 10 words")
    return words, np.stack(rows)


def write_vec(path: Path, words: list[str], vectors: np.ndarray) -> None:
    from unmt.io import write_lines

    write_lines(path, [f"{len(words)} {vectors.shape[1]}"] +
                [w + " " + " ".join(f"{x:.5f}" for x in v) for w, v in zip(words, vectors)])


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


def selection_criterion(SW: np.ndarray, T: np.ndarray, n: int = 10000, k: int = 10) -> float:
    """MUSE's unsupervised criterion: mean cosine between the top-n source words and their CSLS translation."""
    S_ = SW[:n]
    _, idx = csls_retrieve(S_, T, k, 1)
    return float(np.mean(np.sum(S_ * T[idx[:, 0]], axis=1)))


def frequency_agreement(SW: np.ndarray, T: np.ndarray, n: int = 3000, k: int = 10) -> float:
    """Spearman correlation between the frequency ranks of the top-n source words (the lists are frequency-
    ranked, so a rank is an index) and those of their CSLS translations: 0 for an unrelated map."""
    _, idx = csls_retrieve(SW[:n], T, k, 1)
    return frequency_agreement_of(idx[:, 0])


def frequency_agreement_of(translations: np.ndarray, n: int = 3000) -> float:
    """``frequency_agreement`` of a lexicon given as each source word's target index (both frequency-ranked)."""
    from scipy.stats import spearmanr

    t = translations[:n]
    rho = spearmanr(np.arange(len(t)), t).correlation
    return float(0.0 if np.isnan(rho) else rho)


def criteria(SW: np.ndarray, T: np.ndarray) -> dict:
    return {"criterion": round(selection_criterion(SW, T), 4), "frequency_agreement": round(frequency_agreement(SW, T), 4)}


CRITERION_KEY = {"muse": "criterion", "frequency": "frequency_agreement"}


def read_dictionary(path: Path, src_words: list[str], tgt_words: list[str]) -> tuple[dict[int, set[int]], int]:
    """MUSE format (``src tgt`` per line, several lines per source allowed) -> {src_id: {tgt_ids}}."""
    from unmt.io import read_lines

    s_id = {w: i for i, w in enumerate(src_words)}
    t_id = {w: i for i, w in enumerate(tgt_words)}
    gold: dict[int, set[int]] = collections.defaultdict(set)
    total = 0
    for line in read_lines(path, "dictionary"):
        parts = line.split()
        if len(parts) != 2:
            continue
        total += 1
        if parts[0] in s_id and parts[1] in t_id:
            gold[s_id[parts[0]]].add(t_id[parts[1]])
    return dict(gold), total


def precision_at_k(SW: np.ndarray, T: np.ndarray, gold: dict[int, set[int]], ks=(1, 5, 10), method="csls") -> dict:
    if not gold:
        return {f"p@{k}": 0.0 for k in ks} | {"evaluated_words": 0}
    src = np.array(sorted(gold))
    if method == "csls":  # r_T over every source word (the hubs are among all of them), queries the gold ones
        _, idx = csls_retrieve(SW[src], T, 10, max(ks), hub_queries=SW)
    else:
        _, idx = knn(SW[src], T, max(ks))
    return precision_of(idx, gold, ks, rows=src)


def precision_of(idx: np.ndarray, gold: dict[int, set[int]], ks=(1, 5, 10), rows: np.ndarray | None = None) -> dict:
    """P@k of ranked candidates ``idx`` (one row per source word, or per ``rows``' words) on the gold words."""
    if not gold:
        return {f"p@{k}": 0.0 for k in ks} | {"evaluated_words": 0}
    src = np.array(sorted(gold)) if rows is None else rows
    ranked = idx[src] if rows is None else idx
    res = {f"p@{k}": round(100 * float(np.mean([bool(set(ranked[n, :k]) & gold[s]) for n, s in enumerate(src)])), 2)
           for k in ks}
    res["evaluated_words"] = int(len(src))
    return res


def criterion_null(S: np.ndarray, T: np.ndarray, seed: int = 0) -> dict:
    """The selection criteria under a random rotation: what 'no alignment at all' scores."""
    Q, _ = np.linalg.qr(np.random.RandomState(seed).normal(size=(S.shape[1], S.shape[1])))
    return criteria(S @ Q.astype(np.float32), T)


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
        raise UnmtError(f"method 'context' starts from {len(seeds)} tokens spelled alike in both texts -- too few "
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


def induce_lexicon(S: np.ndarray, T: np.ndarray, src_words: list[str], tgt_words: list[str],
                   method: str = "identical", iterations: int = 5, max_rank: int = 5000,
                   seed_pairs: np.ndarray | None = None, gold=None, max_rank_ratio: float | None = 2.0,
                   adversarial_steps: int = 3000, adversarial_start: str | np.ndarray = "pca",
                   stochastic_interval: int = 10, max_self_learning: int = 100,
                   seed: int = 0) -> tuple[np.ndarray, list[dict]]:
    """Map S onto T with ``method``; returns W (S W ~ T) and one history record per iteration."""
    S, T = normalise(S), normalise(T)
    history: list[dict] = []
    started = time.time()

    def record(W, pairs, **extra):
        SW = S @ W
        rec = {"iteration": len(history), "dictionary_size": int(len(pairs)), **criteria(SW, T),
               "elapsed": round(time.time() - started, 2), **extra}
        if gold is not None:
            rec.update(precision_at_k(SW, T, gold))
        history.append(rec)

    if method == "adversarial":
        W0 = adversarial_init(S, T, adversarial_steps, min(max_rank, len(S), len(T)), seed=seed,
                              start=adversarial_start)
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
        raise UnmtError(f"method '{method}' starts from {0 if pairs is None else len(pairs)} seed pairs -- "
                        "too few for Procrustes (try another method, or more text)")

    if method == "vecmap":  # self-learning; keep_prob doubles whenever the objective stalls (VecMap)
        rng, keep, best, last = np.random.RandomState(seed), 0.1, -np.inf, 0
        r = min(max_rank, len(S), len(T))
        for it in range(max_self_learning):
            W = procrustes(S, T, pairs)
            pairs, objective = csls_dictionary(S[:r] @ W, T[:r], keep, rng)
            record(W, pairs, keep_prob=keep, objective=round(objective, 4))
            if objective > best + 1e-4:
                best, last = objective, it
            elif it - last >= stochastic_interval:
                if keep >= 1:
                    break
                keep, last = min(1.0, 2 * keep), it
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


# ----------------------------------------------------------------------------- the stage
def plot_history(histories: dict[str, list[dict]], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from unmt.io import save_figure

    fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
    for name, hist in histories.items():
        its = [h["iteration"] for h in hist]
        if "p@1" in hist[0]:
            ax[0].plot(its, [h["p@1"] for h in hist], marker="o", label=name)
        ax[1].plot(its, [h.get("frequency_agreement", np.nan) for h in hist], marker="o", label=name)
    ax[0].set(title="P@1 (CSLS) on the test dictionary", xlabel="refinement iteration")
    ax[1].set(title="selection criterion (frequency agreement)", xlabel="refinement iteration")
    for a in ax:
        a.legend(fontsize=8)
        a.grid(alpha=0.3)
    save_figure(fig, path)


def align_stage(cfg, layout: RunLayout, checkpoint: Path | None) -> dict:
    """Word vectors per language -> for every pair, every configured unsupervised method, both directions
    -> the one with the best selection criterion gives the lexicon (no gold data used to choose);
    supervised Procrustes on the train dictionary beside it as the reference. Writes mapping.S-T.npy,
    lexicon.S-T.txt, words/vectors per language, results.json/.md and lexicon_curve.png."""
    from unmt.config import dictionary_for, pair_list

    contexts = None
    if "context" in cfg.align.methods:  # the method reads the PPMI matrices the vectors are made from (ppmi only)
        from unmt.io import read_lines

        a = cfg.align
        contexts = {lang: ppmi_matrix(read_lines(layout.text("train", lang))[: a.max_lines], lang, a.max_words,
                                      a.min_count, a.window) for lang in cfg.langs}
    emb = {lang: load_vectors(cfg, lang, layout, checkpoint, contexts and contexts[lang]) for lang in cfg.langs}
    pairs = pair_list(cfg)
    return align_embeddings(emb, pairs, {p: dictionary_for(cfg, *p) for p in pairs}, cfg.align, cfg.seed, layout,
                            contexts=contexts)


def check_align_config(a) -> None:
    """Reject unknown methods/starts before any vectors are built (`unmt induce-lexicon`; recipes are
    checked when they load)."""
    if a.criterion not in CRITERIA:
        raise UnmtError(f"align.criterion: unknown '{a.criterion}' -- use {' or '.join(CRITERIA)}")
    unknown = [m for m in a.methods if m not in UNSUPERVISED]
    if unknown or not a.methods:
        raise UnmtError(f"align.methods: {unknown or 'empty'} -- choose from {', '.join(UNSUPERVISED)}")
    if "context" in a.methods and a.vectors == "vec":
        raise UnmtError("align.methods: 'context' reads the text's co-occurrences, which .vec files do not have "
                        "-- drop 'context' here, or run it in a recipe (align.vectors: ppmi)")
    if "adversarial" in a.methods and a.adversarial_start not in ADVERSARIAL_STARTS:
        raise UnmtError(f"align.adversarial_start: unknown '{a.adversarial_start}' -- use {' or '.join(ADVERSARIAL_STARTS)}")


def train_dictionary(dictionary_test: str | Path) -> Path:
    """The supervised reference's seeds: the test dictionary's ``.train.`` sibling (MUSE's file naming)."""
    test_dict = Path(dictionary_test)
    return test_dict.with_name(test_dict.name.replace(".test.", ".train."))


def align_embeddings(emb: dict, pairs, dictionaries: dict, a, seed: int, layout: RunLayout,
                     stage: str = "align", contexts: dict | None = None) -> dict:
    """The stage's work on loaded embedding sets ``{lang: (words, vectors)}`` (also `unmt induce-lexicon`),
    for each (src, tgt) in ``pairs``, both directions, written to ``layout``'s folder ``stage``.
    ``dictionaries``: {(src, tgt): test dictionary path or None}; a missing file means no P@1 for that pair.
    ``contexts``: {lang: ``ppmi_matrix``}, needed by the ``context`` method only."""
    from unmt.io import save_array, write_json, write_lines, write_text

    for lang, (words, vectors) in emb.items():  # the mine stage builds sentence vectors from these
        write_lines(layout.words(lang, stage), words)
        save_array(layout.vectors(lang, stage), normalise(vectors))
    results, histories = {}, {}
    for src, tgt in pairs:
        dictionary = dictionaries.get((src, tgt))
        res, hist = align_pair(emb, src, tgt, dictionary, a, seed, layout, stage, contexts)
        results |= res
        histories |= hist
    plot_history(histories, layout.figure(stage, "lexicon_curve"))
    write_json(layout.results(stage), results)
    write_text(layout.results(stage, "md"), lexicon_table(results))
    return {pair: {"selected": r["selected"], **{k: v for k, v in r["methods"][r["selected"]].items()
                                                  if k.startswith("p@")}} for pair, r in results.items()}


def align_pair(emb: dict, src: str, tgt: str, dictionary: Path | None, a, seed: int, layout: RunLayout,
               stage: str, contexts: dict | None = None) -> tuple[dict, dict]:
    """One pair, both directions: every method, the selected mapping and lexicon written, P@1 where the
    test dictionary exists. Returns ({direction: record}, {curve name: history})."""
    from unmt.io import save_array, write_lines

    # gold test pairs and supervised seeds, read once in the src->tgt direction; tgt->src inverts them
    gold, seeds, p_at_1 = {}, {}, None
    if dictionary is None:
        p_at_1 = "not available: the recipe names no test dictionary (dictionary_test)"
    elif not Path(dictionary).is_file():
        p_at_1 = f"not available: no test dictionary for {src}-{tgt} ({dictionary} not found)"
    else:
        test_dict, train_dict = Path(dictionary), train_dictionary(dictionary)
        g, _ = read_dictionary(test_dict, emb[src][0], emb[tgt][0])
        gold = {(src, tgt): g, (tgt, src): _invert(g)}
        if train_dict.exists():
            tr, _ = read_dictionary(train_dict, emb[src][0], emb[tgt][0])
            for key, d in (((src, tgt), tr), ((tgt, src), _invert(tr))):
                seeds[key] = np.array([(i, j) for i, js in d.items() for j in js], dtype=np.int64).reshape(-1, 2)
    options = dict(iterations=a.iterations, max_rank=a.max_rank, max_rank_ratio=a.max_rank_ratio,
                   adversarial_steps=a.adversarial_steps, adversarial_start=a.adversarial_start,
                   stochastic_interval=a.stochastic_interval, seed=seed)
    results, histories = {}, {}
    for s, t in ((src, tgt), (tgt, src)):
        (sw, S), (tw, T) = emb[s], emb[t]
        null = criterion_null(normalise(S), normalise(T))
        rec = {"vocab": {s: len(sw), t: len(tw)}, "identical_seed_pairs": int(len(identical_pairs(sw, tw, a.max_rank_ratio))),
               "criterion_random_rotation": null["criterion"],
               "frequency_agreement_random_rotation": null["frequency_agreement"], "methods": {}}
        if p_at_1:
            rec["p@1"] = p_at_1
        mappings, lexicons = {}, {}
        for method in a.methods:
            started = time.time()
            if method == "context":
                if not contexts:
                    raise UnmtError("align.methods: 'context' needs the texts' PPMI contexts -- use it in a recipe "
                                    "(align.vectors: ppmi), not on .vec files")
                best, pairs, hist = context_lexicon(contexts[s][1], contexts[t][1], contexts[s][0], contexts[t][0],
                                                    sw, tw, a.iterations, a.max_rank, a.max_rank_ratio,
                                                    gold=gold.get((s, t)))
                lexicons[method] = {w: tw[j] for w, j in zip(sw, best)}
                # the mine stage maps word vectors: Procrustes on the pairs the contexts found
                W = procrustes(normalise(S), normalise(T), pairs) if len(pairs) >= 2 else np.eye(S.shape[1], dtype=np.float32)
                hist[-1]["criterion"] = round(selection_criterion(normalise(S) @ W, normalise(T)), 4)
            else:
                W, hist = induce_lexicon(S, T, sw, tw, method, gold=gold.get((s, t)), **options)
            mappings[method] = W
            histories[f"{s}-{t} {method}"] = hist
            rec["methods"][method] = {**hist[-1], "seconds": round(time.time() - started, 1), "history": hist}
            last = hist[-1]  # progress: a pair of several methods takes minutes
            print(f"[align] {s}-{t} {method}: P@1 {last.get('p@1', '-')}, frequency agreement "
                  f"{last['frequency_agreement']}, MUSE criterion {last.get('criterion', '-')} "
                  f"({time.time() - started:.0f} s)", file=sys.stderr, flush=True)
        key = CRITERION_KEY[a.criterion]
        selected = max(mappings, key=lambda m: rec["methods"][m][key])
        rec["selected"], rec["selected_by"] = selected, a.criterion
        save_array(layout.mapping(s, t, stage), mappings[selected])
        lexicon = lexicons.get(selected) or lexicon_from_mapping(S, T, mappings[selected], sw, tw)
        write_lines(layout.lexicon(s, t, stage), (f"{w} {v}" for w, v in lexicon.items()))
        if (s, t) in gold:
            rec["no_mapping"] = precision_at_k(normalise(S), normalise(T), gold[(s, t)])
            # how much identical strings explain: test words with a translation spelled alike, and the part
            # of the selected lexicon's P@1 that is such a word copied
            g = gold[(s, t)]
            hits = [sw[i] for i, js in g.items() if lexicon[sw[i]] in {tw[j] for j in js}]
            rec["spelled_alike"] = {"test_words": sum(any(sw[i] == tw[j] for j in js) for i, js in g.items()),
                                    "of": len(g), "p@1_points": round(100 * sum(lexicon[w] == w for w in hits) / len(g), 2),
                                    "selected_p@1": round(100 * len(hits) / len(g), 2)}
            if len(seeds.get((s, t), ())) >= 2:
                for name, its in (("supervised_procrustes", 0), ("supervised_refined", a.iterations)):
                    _, hsup = induce_lexicon(S, T, sw, tw, "supervised", seed_pairs=seeds[(s, t)], gold=gold[(s, t)],
                                             **{**options, "iterations": its})
                    rec[name] = hsup[-1]
        results[f"{s}-{t}"] = rec
    return results, histories


def load_vectors(cfg, lang: str, layout: RunLayout, checkpoint: Path | None,
                 matrix: tuple | None = None) -> tuple[list[str], np.ndarray]:
    from unmt.io import read_lines

    a = cfg.align
    if a.vectors == "vec":
        path = Path(a.vec_files.get(lang, "")) if a.vec_files else None
        if not path:
            raise UnmtError(f"align.vectors is 'vec' but align.vec_files has no file for '{lang}' -- add {lang}: PATH.vec")
        return read_vec(path, a.max_words)
    # with ``matrix`` (the stage's PPMI counts, context on) the text was read already; only ppmi takes it
    lines = read_lines(layout.text("train", lang))[: a.max_lines] if matrix is None else None
    if a.vectors == "ppmi":
        return word_vectors_ppmi(lines, lang, a.max_words, a.min_count, a.window, a.dim, matrix)
    if a.vectors in ("encoder", "embedding"):
        from unmt.translate import Translator

        tr = Translator(checkpoint, layout)
        if a.vectors == "embedding":
            return word_vectors_from_embeddings(tr, lines, lang, a.max_words, a.min_count)
        return word_vectors_from_model(tr, lines, lang, a.max_words, a.min_count)
    raise UnmtError(f"align.vectors: unknown '{a.vectors}' -- use ppmi, encoder, embedding or vec")


def _invert(gold: dict[int, set[int]]) -> dict[int, set[int]]:
    inv: dict[int, set[int]] = collections.defaultdict(set)
    for i, js in gold.items():
        for j in js:
            inv[j].add(i)
    return dict(inv)


def lexicon_table(results: dict) -> str:
    rows = ["| direction | method | P@1 | P@5 | P@10 | words | frequency agreement | MUSE criterion |",
            "|---|---|---|---|---|---|---|---|"]
    for pair, rec in results.items():
        entries = [("no mapping", rec.get("no_mapping"))]
        entries += [(m + (" (selected)" if m == rec["selected"] else ""), r) for m, r in rec["methods"].items()]
        entries += [("supervised Procrustes", rec.get("supervised_procrustes")),
                    ("supervised + refinement", rec.get("supervised_refined"))]
        for name, r in entries:
            if r:
                rows.append(f"| {pair} | {name} | {r.get('p@1', '-')} | {r.get('p@5', '-')} | {r.get('p@10', '-')} "
                            f"| {r.get('evaluated_words', '-')} | {r.get('frequency_agreement', '-')} "
                            f"| {r.get('criterion', '-')} |")
    nulls = ", ".join(f"{p} {r.get('frequency_agreement_random_rotation', '-')} / {r['criterion_random_rotation']}"
                      for p, r in results.items())
    by = {r.get("selected_by", "muse") for r in results.values()}
    missing = "".join(f"\n{p}: P@1 {r['p@1']}." for p, r in results.items() if isinstance(r.get("p@1"), str))
    alike = ", ".join(f"{p} {r['spelled_alike']['p@1_points']} of {r['spelled_alike']['selected_p@1']} "
                      f"({r['spelled_alike']['test_words']} of {r['spelled_alike']['of']} test words have one)"
                      for p, r in results.items() if "spelled_alike" in r)
    alike = (f"Identical strings in the selected lexicon's P@1 (a test word translated by itself), points: {alike}.\n"
             if alike else "")
    return ("\n".join(rows) + f"\n\nSelected by: {', '.join(sorted(by))} (align.criterion). Under a random rotation (no "
            f"alignment), frequency agreement / MUSE criterion: {nulls}.\n" + alike
            + (missing.lstrip("\n") + "\n" if missing else ""))

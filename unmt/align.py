"""Stage 3 — align: unsupervised bilingual lexicon induction (MUSE/VecMap style), faiss for every search.

Word vectors come from the shared pretrained model: each word's vector is the mean encoder state
over its occurrences in that language's monolingual text. The two languages never saw each other's
sentences, so whatever aligns them comes from the joint model plus the steps below:

1. normalise (unit length, centre, unit length) — VecMap's recipe, removes each language's mean;
2. seed with identical strings (numbers, names, shared words: free, unsupervised supervision);
3. iterate: orthogonal Procrustes on the current dictionary -> CSLS mutual nearest neighbours
   among frequent words -> new dictionary (MUSE's refinement);
4. report P@1/5/10 on a held-out gold dictionary and the unsupervised selection criterion
   (mean cosine of CSLS translations of the most frequent words).

CSLS(x, y) = 2 cos(x, y) - r_T(y) - r_S(x). For retrieval r_S(x) is constant per query, so
argmax_y CSLS = argmax_y [2x, -1] . [y, r_T(y)]: an exact inner-product search that faiss does.
"""
from __future__ import annotations

import collections
import re
from pathlib import Path

import faiss
import numpy as np

from unmt.errors import UnmtError

WORD_RE = re.compile(r"^[^\W\d_]+(?:-[^\W\d_]+)*$")


# ----------------------------------------------------------------------------- embeddings
TOKEN_RE = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*|\d+")


def word_vectors_ppmi(lines: list[str], max_words: int = 10000, min_count: int = 2, window: int = 5,
                      dim: int = 300) -> tuple[list[str], np.ndarray]:
    """Monolingual count-based vectors (Levy & Goldberg 2014): PPMI of window co-occurrences, then a
    truncated SVD. One language at a time, as MUSE/VecMap assume: the spaces know nothing of each other."""
    import scipy.sparse as sps
    from scipy.sparse.linalg import svds

    sents = [TOKEN_RE.findall(line.lower()) for line in lines]
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
    col_p = np.asarray(M.tocsr().sum(0)).ravel() ** 0.75   # context smoothing, as in word2vec
    col_p /= col_p.sum()
    pmi = np.log(M.data / total / row_p[M.row] / col_p[M.col])
    keep = pmi > 0
    P = sps.csr_matrix((pmi[keep], (M.row[keep], M.col[keep])), shape=(n, n))
    u, sv, _ = svds(P, k=min(dim, n - 2), v0=np.random.RandomState(0).rand(n))  # deterministic start
    words = [w for w in vocab if WORD_RE.match(w)]
    keep_rows = [index[w] for w in words]
    return words, (u * np.sqrt(sv))[keep_rows].astype(np.float32)


def word_vectors_from_model(translator, lines: list[str], lang: str, max_words: int = 10000,
                            min_count: int = 2, batch_size: int = 64) -> tuple[list[str], np.ndarray]:
    """Mean encoder state of each (lower-cased, alphabetic) word's pieces over its occurrences."""
    import torch
    from fairseq.data import data_utils

    model, d = translator.model, translator.dict
    src_idx = translator.check_lang(lang)
    sums: dict[str, np.ndarray] = {}
    counts: collections.Counter = collections.Counter()
    dim = model.encoder.embed_tokens.embedding_dim
    with torch.no_grad():
        for start in range(0, len(lines), batch_size):
            batch = lines[start:start + batch_size]
            pieces = [translator.sp.encode(line, out_type=str)[:200] for line in batch]
            toks = [torch.cat([torch.tensor([src_idx]),
                               d.encode_line(" ".join(p), add_if_not_exist=False, append_eos=True).long()])
                    for p in pieces]
            src = data_utils.collate_tokens(toks, d.pad(), left_pad=False)
            enc = model.encoder(src, src_lengths=torch.tensor([len(t) for t in toks]))
            states = enc["encoder_out"][0].transpose(0, 1).numpy()  # B x T x C
            for b, ps in enumerate(pieces):
                word, vecs = "", []
                for i, p in enumerate(ps + ["▁"]):
                    if p.startswith("▁") and word:
                        w = word.lower()
                        if WORD_RE.match(w):
                            sums[w] = sums.get(w, np.zeros(dim, dtype=np.float64)) + np.mean(vecs, axis=0)
                            counts[w] += 1
                        word, vecs = "", []
                    if i < len(ps):
                        word += p.lstrip("▁") if p.startswith("▁") else p
                        vecs.append(states[b, i + 1])  # +1: position 0 is the language tag
    words = [w for w, c in counts.most_common(max_words) if c >= min_count]
    if not words:
        raise UnmtError(f"no words with count >= {min_count} in the {lang} text -- give more text")
    return words, np.stack([sums[w] / counts[w] for w in words]).astype(np.float32)


def normalise(X: np.ndarray) -> np.ndarray:
    X = X / np.linalg.norm(X, axis=1, keepdims=True).clip(1e-8)
    X = X - X.mean(axis=0, keepdims=True)
    return (X / np.linalg.norm(X, axis=1, keepdims=True).clip(1e-8)).astype(np.float32)


# ----------------------------------------------------------------------------- search
def knn(queries: np.ndarray, base: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product k-NN with faiss (flat index; GPU if faiss-gpu is installed)."""
    index = faiss.IndexFlatIP(base.shape[1])
    if hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0:
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    index.add(np.ascontiguousarray(base, dtype=np.float32))
    return index.search(np.ascontiguousarray(queries, dtype=np.float32), min(k, base.shape[0]))


def mean_knn_similarity(queries: np.ndarray, base: np.ndarray, k: int = 10) -> np.ndarray:
    sims, _ = knn(queries, base, k)
    return sims.mean(axis=1)


def csls_retrieve(S: np.ndarray, T: np.ndarray, k: int = 10, topn: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Top-``topn`` targets for every source row by CSLS (exact, via an augmented inner product)."""
    r_t = mean_knn_similarity(T, S, k)
    r_s = mean_knn_similarity(S, T, k)
    queries = np.hstack([2 * S, -np.ones((len(S), 1), dtype=np.float32)])
    base = np.hstack([T, r_t[:, None].astype(np.float32)])
    scores, idx = knn(queries, base, topn)
    return scores - r_s[:, None], idx


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
    return np.array([(i, j) for i, j in enumerate(fwd[:, 0]) if bwd[j, 0] == i], dtype=np.int64).reshape(-1, 2)


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
    if method == "csls":
        r_t = mean_knn_similarity(T, SW, 10)  # r_S(x) is constant per query, so ranking needs only r_T
        q = np.hstack([2 * SW[src], -np.ones((len(src), 1), dtype=np.float32)])
        _, idx = knn(q, np.hstack([T, r_t[:, None]]), max(ks))
    else:
        _, idx = knn(SW[src], T, max(ks))
    res = {f"p@{k}": round(100 * float(np.mean([bool(set(idx[n, :k]) & gold[s]) for n, s in enumerate(src)])), 2)
           for k in ks}
    res["evaluated_words"] = int(len(src))
    return res


def induce_lexicon(S: np.ndarray, T: np.ndarray, src_words: list[str], tgt_words: list[str],
                   seed: str = "identical", iterations: int = 5, max_rank: int = 5000,
                   seed_pairs: np.ndarray | None = None, gold=None,
                   max_rank_ratio: float | None = 2.0) -> tuple[np.ndarray, list[dict]]:
    """Procrustes + CSLS refinement from a seed dictionary; returns the mapping and per-iteration history."""
    S, T = normalise(S), normalise(T)
    if seed == "identical":
        pairs = identical_pairs(src_words, tgt_words, max_rank_ratio)
    elif seed == "supervised":
        pairs = seed_pairs
    else:
        raise UnmtError(f"unknown seed '{seed}' -- use identical or supervised")
    if pairs is None or len(pairs) < 2:
        raise UnmtError(f"seed '{seed}' gives {0 if pairs is None else len(pairs)} pairs -- too few to start Procrustes")
    history = []
    W = np.eye(S.shape[1], dtype=np.float32)
    for it in range(iterations + 1):
        W = procrustes(S, T, pairs)
        SW = S @ W
        rec = {"iteration": it, "dictionary_size": int(len(pairs)), "criterion": round(selection_criterion(SW, T), 4)}
        if gold is not None:
            rec.update(precision_at_k(SW, T, gold))
        history.append(rec)
        if it < iterations:
            new = mutual_csls_pairs(SW, T, max_rank)
            if seed == "supervised":  # keep the seeds, add what refinement finds
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

    from unmt.io import atomic_path

    fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
    for name, hist in histories.items():
        its = [h["iteration"] for h in hist]
        if "p@1" in hist[0]:
            ax[0].plot(its, [h["p@1"] for h in hist], marker="o", label=name)
        ax[1].plot(its, [h["criterion"] for h in hist], marker="o", label=name)
    ax[0].set(title="P@1 (CSLS) on the test dictionary", xlabel="refinement iteration")
    ax[1].set(title="selection criterion (mean cosine)", xlabel="refinement iteration")
    for a in ax:
        a.legend(fontsize=8)
        a.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def align_stage(cfg, prepare_dir: Path, checkpoint: Path, out_dir: Path) -> dict:
    """Word vectors from the shared LM -> unsupervised (identical-string seed + refinement) and
    supervised-Procrustes lexicons in both directions -> P@k, induced dictionaries, table and plot."""
    from unmt.io import read_lines, write_json, write_lines, write_text
    from unmt.translate import Translator

    a, (src, tgt) = cfg.align, cfg.langs
    if a.vectors not in ("ppmi", "encoder"):
        raise UnmtError(f"align.vectors: unknown '{a.vectors}' -- use ppmi or encoder")
    translator = Translator(checkpoint, prepare_dir) if a.vectors == "encoder" else None
    emb = {}
    for lang in (src, tgt):
        lines = read_lines(Path(prepare_dir) / "text" / f"train.{lang}")[: a.max_lines]
        if translator is None:
            emb[lang] = word_vectors_ppmi(lines, a.max_words, a.min_count, a.window, a.dim)
        else:
            emb[lang] = word_vectors_from_model(translator, lines, lang, a.max_words, a.min_count)
    # gold test pairs and supervised seeds, read once in the src->tgt direction; tgt->src inverts them
    gold, seeds = {}, {}
    if cfg.dictionary_test:
        test_dict = Path(cfg.dictionary_test)
        train_dict = test_dict.with_name(test_dict.name.replace(".test.", ".train."))
        g, _ = read_dictionary(test_dict, emb[src][0], emb[tgt][0])
        gold = {(src, tgt): g, (tgt, src): _invert(g)}
        if train_dict.exists():
            tr, _ = read_dictionary(train_dict, emb[src][0], emb[tgt][0])
            for key, d in (((src, tgt), tr), ((tgt, src), _invert(tr))):
                seeds[key] = np.array([(i, j) for i, js in d.items() for j in js], dtype=np.int64).reshape(-1, 2)
    results, histories = {}, {}
    for s, t in ((src, tgt), (tgt, src)):
        (sw, S), (tw, T) = emb[s], emb[t]
        W, hist = induce_lexicon(S, T, sw, tw, "identical", a.iterations, a.max_rank, gold=gold.get((s, t)),
                                 max_rank_ratio=a.max_rank_ratio)
        histories[f"{s}-{t} unsupervised"] = hist
        lexicon = lexicon_from_mapping(S, T, W, sw, tw)
        np.save(out_dir / f"mapping.{s}-{t}.npy", W)
        write_lines(out_dir / f"lexicon.{s}-{t}.txt", (f"{w} {v}" for w, v in lexicon.items()))
        rec = {"unsupervised": hist[-1], "history": hist,
               "identical_seed_pairs": int(len(identical_pairs(sw, tw, a.max_rank_ratio))),
               "vocab": {s: len(sw), t: len(tw)}}
        if (s, t) in gold:
            rec["no_mapping"] = precision_at_k(normalise(S), normalise(T), gold[(s, t)])
            if len(seeds.get((s, t), ())) >= 2:
                _, hsup = induce_lexicon(S, T, sw, tw, "supervised", 0, a.max_rank, seed_pairs=seeds[(s, t)],
                                         gold=gold[(s, t)])
                rec["supervised_procrustes"] = hsup[-1]
        results[f"{s}-{t}"] = rec
    plot_history(histories, out_dir / "lexicon_curve.png")
    write_json(out_dir / "results.json", results)
    write_text(out_dir / "results.md", lexicon_table(results))
    return results


def _invert(gold: dict[int, set[int]]) -> dict[int, set[int]]:
    inv: dict[int, set[int]] = collections.defaultdict(set)
    for i, js in gold.items():
        for j in js:
            inv[j].add(i)
    return dict(inv)


def lexicon_table(results: dict) -> str:
    rows = ["| direction | method | P@1 | P@5 | P@10 | words | criterion |", "|---|---|---|---|---|---|---|"]
    for pair, rec in results.items():
        for method in ("no_mapping", "unsupervised", "supervised_procrustes"):
            r = rec.get(method)
            if r:
                rows.append(f"| {pair} | {method} | {r.get('p@1', '-')} | {r.get('p@5', '-')} | {r.get('p@10', '-')} "
                            f"| {r.get('evaluated_words', '-')} | {r.get('criterion', '-')} |")
    return "\n".join(rows) + "\n"

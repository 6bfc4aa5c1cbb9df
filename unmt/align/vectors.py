"""Word vectors per language: PPMI+SVD of the monolingual text, the shared LM's encoder states or
embedding table, or ``.vec`` files; normalised the VecMap way (unit, centre, unit)."""
from __future__ import annotations

import collections
import re
from pathlib import Path

import numpy as np

from unmt.errors import UnmtError, fail
from unmt.layout import RunLayout
from unmt.segment import words as line_words


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

"""Stage 4 — mine: margin-scored bitext mining between the two monolingual pools (Artetxe & Schwenk 2019).

Every sentence becomes a unit vector, k-NN is searched both ways with faiss, and each candidate pair
is scored by the ratio margin
    margin(x, y) = cos(x, y) / ( (sum_{z in NN_k(x)} cos(x, z) + sum_{z in NN_k(y)} cos(y, z)) / 2k ),
which discounts "hub" sentences that are close to everything. Output: TSV ``score<TAB>src<TAB>tgt``,
which ``unmt train`` reads as warm-start pairs.

Two sentence encoders, neither trained on parallel data:
- ``lexicon`` (round 1): the IDF-weighted mean of the word vectors the align stage mapped into one
  space, beside a hashed IDF bag of tokens in which source words are replaced by their induced
  translation (numbers, names and code then match as themselves);
- ``model``: the shared LM's (or the UNMT model's) encoder states, mean-pooled — CRISS's encoder,
  which gets better as translation training makes the encoder language-neutral.
"""
from __future__ import annotations

import collections
import math
import random
import zlib
from pathlib import Path

import numpy as np

from unmt.segment import words as line_words
from unmt.errors import UnmtError
from unmt.layout import RunLayout
from unmt.search import combine_directions, knn

HASH_DIM = 4096


def _unit(X: np.ndarray) -> np.ndarray:
    return (X / np.linalg.norm(X, axis=1, keepdims=True).clip(1e-8)).astype(np.float32)


class LexicalEncoder:
    """Sentence vectors from the align stage's outputs (word lists, vectors, the mapping and the lexicon)."""

    def __init__(self, layout: RunLayout, src: str, tgt: str, train: dict[str, list[str]], token_weight: float = 0.3,
                 hash_dim: int = HASH_DIM):
        from unmt.evaluate import read_lexicon
        from unmt.io import read_lines

        self.src, self.token_weight, self.hash_dim = src, token_weight, hash_dim
        self.lexicon = read_lexicon(layout.lexicon(src, tgt))
        self.vectors, self.idf = {}, {}
        for lang in (src, tgt):
            words = read_lines(layout.words(lang), "align word list")
            V = np.load(layout.vectors(lang))
            if lang == src:
                V = V @ np.load(layout.mapping(src, tgt))
            self.vectors[lang] = ({w: i for i, w in enumerate(words)}, V)
            df = collections.Counter(w for line in train[lang] for w in set(self.tokens(line, lang, False)))
            n = len(train[lang])
            self.idf[lang] = collections.defaultdict(lambda n=n: math.log(n), {w: math.log(n / c) for w, c in df.items()})

    def tokens(self, line: str, lang: str, translate: bool = True) -> list[str]:
        toks = line_words(line, lang)
        return [self.lexicon.get(w, w) for w in toks] if translate and lang == self.src else toks

    def encode(self, lines: list[str], lang: str) -> np.ndarray:
        index, V = self.vectors[lang]
        idf = self.idf[lang]
        dense = np.zeros((len(lines), V.shape[1]), np.float32)
        hashed = np.zeros((len(lines), self.hash_dim), np.float32)
        for n, line in enumerate(lines):
            words = self.tokens(line, lang, False)
            shown_as = [self.lexicon.get(w, w) for w in words] if lang == self.src else words
            for w, shown in zip(words, shown_as):
                weight = idf[w]
                if w in index:
                    dense[n] += weight * V[index[w]]
                h = zlib.crc32(shown.encode("utf-8"))  # signed feature hashing: collisions cancel on average
                hashed[n, h % self.hash_dim] += weight if (h >> 16) & 1 else -weight
        a = self.token_weight
        return _unit(np.hstack([math.sqrt(1 - a) * _unit(dense), math.sqrt(a) * _unit(hashed)]))


def embed_sentences(translator, lines: list[str], lang: str, batch_size: int = 64) -> np.ndarray:
    """Mean-pooled encoder states (language tag excluded), unit length."""
    import torch
    from tqdm import tqdm

    model = translator.model
    out = []
    bar = tqdm(total=len(lines), desc=f"encode {lang}", unit="sent", leave=False, disable=len(lines) < 1000)
    with torch.no_grad():
        for idx, src, lengths in translator.batches(lines, lang, batch_size, max_len=200):
            enc = model.encoder(src, src_lengths=lengths)
            states = enc["encoder_out"][0].transpose(0, 1)                    # B x T x C
            mask = (~enc["encoder_padding_mask"][0]).unsqueeze(-1).float()   # B x T x 1
            mask[:, 0] = 0                                                     # skip the language tag
            pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy())
            bar.update(len(idx))
    bar.close()
    return np.concatenate(out).astype(np.float32)


def margin_mine(X: np.ndarray, Y: np.ndarray, k: int = 4, mode: str = "max", threshold: float = 1.0,
                index: str = "auto"):
    """Return [(score, i, j)] mined pairs, best first. mode: forward | backward | max | intersect;
    index: faiss index kind (auto = exact for pools up to 200k sentences, IVF above)."""
    if len(X) == 0 or len(Y) == 0:
        raise UnmtError("mining needs two non-empty pools -- give sentences in both languages")
    if index == "sharded":
        return _sharded(X, Y, k, mode, threshold)
    k = min(k, len(X), len(Y))
    sx, ix = knn(X, Y, k, index)  # forward neighbours
    sy, iy = knn(Y, X, k, index)  # backward neighbours
    rx, ry = sx.mean(1), sy.mean(1)
    # ratio margin of every neighbour, from the cosines faiss already returned (a sentence with no
    # known word is a zero vector: its margin is 0, not 0/0)
    mf = sx / np.maximum((rx[:, None] + ry[ix]) / 2, 1e-6)
    mb = sy / np.maximum((ry[:, None] + rx[iy]) / 2, 1e-6)
    af, ab = mf.argmax(1), mb.argmax(1)
    rows_x, rows_y = np.arange(len(X)), np.arange(len(Y))
    try:
        cands = combine_directions(ix[rows_x, af], iy[rows_y, ab], mode, mf[rows_x, af], mb[rows_y, ab])
    except ValueError as e:
        raise UnmtError(f"mining mode: {e}") from None
    # one pair per sentence on either side, best first
    used_x, used_y, out = set(), set(), []
    for s, i, j in sorted(cands, reverse=True):
        if s >= threshold and i not in used_x and j not in used_y:
            used_x.add(i)
            used_y.add(j)
            out.append((s, i, j))
    return out


def _sharded(X, Y, k: int, mode: str, threshold: float):
    """Pools already on disk (DiskArray) are mined where they lie; arrays are written to a scratch folder."""
    import tempfile

    from unmt.sharded import DiskArray, sharded_margin_mine, write_store

    if isinstance(X, DiskArray) and isinstance(Y, DiskArray):
        return sharded_margin_mine(X, Y, X.path.parent, k, mode, threshold)
    with tempfile.TemporaryDirectory(prefix=".unmt-mine.") as scratch:
        scratch = Path(scratch)
        xs, ys = write_store(scratch / "x.f16", [X]), write_store(scratch / "y.f16", [Y])
        try:
            return sharded_margin_mine(xs, ys, scratch, k, mode, threshold)
        finally:
            xs.close()
            ys.close()


def plausible_pair(a: str, b: str, langs: tuple[str, str], min_tokens: int = 3, max_length_ratio: float = 2.0) -> bool:
    """Drop what margin scoring cannot judge: identical lines (code, names), fragments, length mismatches
    (lengths in words, segmented per language, so a Chinese line is not one long word)."""
    na, nb = len(line_words(a, langs[0])), len(line_words(b, langs[1]))
    return (a != b and min(na, nb) >= min_tokens and max(na, nb) <= max_length_ratio * min(na, nb))


def check_pools(src_lines: list[str], tgt_lines: list[str], src: str, tgt: str) -> None:
    """Refuse two pools that are mostly the same text (one language given twice): mining would only
    return identical lines, which the plausibility filter then drops, silently leaving nothing."""
    if not src_lines or not tgt_lines:
        raise UnmtError(f"mining needs two non-empty pools -- the {src if not src_lines else tgt} pool is empty")
    small, other = (src_lines, set(tgt_lines)) if len(src_lines) <= len(tgt_lines) else (tgt_lines, set(src_lines))
    shared = sum(line in other for line in small) / len(small)
    if shared > 0.5:
        raise UnmtError(f"the {src} and {tgt} pools share {100 * shared:.0f}% of their lines -- they look like one "
                        f"language twice; give a {src} file and a {tgt} file")


def mine_vectors(X: np.ndarray, Y: np.ndarray, src_lines, tgt_lines, langs: tuple[str, str], m) -> list[tuple[float, int, int]]:
    pairs = margin_mine(X, Y, m.k, m.mode, m.threshold, m.index)
    kept = [p for p in pairs if plausible_pair(src_lines[p[1]], tgt_lines[p[2]], langs, m.min_tokens, m.max_length_ratio)]
    return kept[: m.max_pairs] if m.max_pairs else kept


def mine_pools(encode, src_lines, tgt_lines, src, tgt, m) -> list[tuple[float, int, int]]:
    check_pools(src_lines, tgt_lines, src, tgt)
    return mine_vectors(encode(src_lines, src), encode(tgt_lines, tgt), src_lines, tgt_lines, (src, tgt), m)


def _rows(vectors, rows: list[int]) -> np.ndarray:
    """``vectors[rows]`` for an array or a sharded pool on disk (fp16; its zero padding columns dropped)."""
    from unmt.sharded import DiskArray

    if not isinstance(vectors, DiskArray):
        return vectors[rows]
    order = np.argsort(rows)
    got = np.empty((len(rows), vectors.shape[1]), np.float32)
    got[order] = [vectors.read(r, r + 1)[0] for r in np.asarray(rows)[order]]
    return got


def planted_eval(encode, pools: dict[str, list[str]], pool_vectors: dict[str, np.ndarray],
                 dev: dict[str, list[str]], src, tgt, m, seed=1) -> dict:
    """BUCC-style: hide the aligned dev pairs among unrelated training sentences (whose vectors are
    already computed), mine, and score precision/recall/F1 of recovering them (every other mined pair
    counts against precision)."""
    rng = random.Random(seed)
    filler = {l: rng.sample(range(len(pools[l])), min(m.planted_filler, len(pools[l]))) for l in (src, tgt)}
    n = len(dev[src])
    where, lines, vectors = {}, {}, {}
    for l in (src, tgt):
        items = [(pools[l][f], None) for f in filler[l]] + [(line, i) for i, line in enumerate(dev[l])]
        order = list(range(len(items)))
        rng.shuffle(order)
        pool_part, dev_part = _rows(pool_vectors[l], filler[l]), encode(dev[l], l)
        width = max(pool_part.shape[1], dev_part.shape[1])  # a store on disk is zero-padded to a multiple of 8
        stacked = np.vstack([np.pad(p, ((0, 0), (0, width - p.shape[1]))) for p in (pool_part, dev_part)])
        lines[l] = [items[o][0] for o in order]
        vectors[l] = stacked[order]
        where[l] = {items[o][1]: pos for pos, o in enumerate(order) if items[o][1] is not None}
    gold = {(where[src][i], where[tgt][i]) for i in range(n)}
    mined = {(i, j) for _, i, j in mine_vectors(vectors[src], vectors[tgt], lines[src], lines[tgt], (src, tgt), m)}
    hit = len(mined & gold)
    p = hit / len(mined) if mined else 0.0
    r = hit / len(gold)
    return {"planted_pairs": n, "filler_per_language": len(filler[src]), "mined": len(mined), "correct": hit,
            "precision": round(100 * p, 2), "recall": round(100 * r, 2),
            "f1": round(200 * p * r / (p + r), 2) if hit else 0.0}


ENCODERS = ("lexicon", "model", "hybrid")  # config.MineEncoder


def make_encoder(name: str, layout: RunLayout, src: str, tgt: str, pools: dict, token_weight: float = 0.3,
                 checkpoint: Path | None = None, hash_dim: int = HASH_DIM):
    """``encode(lines, lang) -> unit vectors`` for encoder ``name``; hybrid = lexicon and model vectors
    side by side (equal weight), so a later round keeps the lexical evidence and adds the model's."""
    if name not in ENCODERS:
        raise UnmtError(f"mine encoder: unknown '{name}' -- use one of {', '.join(ENCODERS)}")
    lexical = LexicalEncoder(layout, src, tgt, pools, token_weight, hash_dim).encode if name != "model" else None
    if name == "lexicon":
        return lexical
    from unmt.translate import Translator

    translator = Translator(checkpoint, layout)
    if name == "model":
        return lambda lines, lang: embed_sentences(translator, lines, lang)
    return lambda lines, lang: _unit(np.hstack([lexical(lines, lang), embed_sentences(translator, lines, lang)]))


def mine_stage(cfg, layout: RunLayout, name: str, checkpoint: Path | None = None, encoder: str | None = None) -> dict:
    """Stage ``name``: for every pair, mine the two training pools -> mined pairs; score the miner on
    planted dev pairs. results.json holds one record per pair."""
    from unmt.config import pair_list
    from unmt.io import read_lines, write_json, write_text

    encoder = encoder or cfg.mine.encoder
    langs = sorted({x for p in pair_list(cfg) for x in p}, key=cfg.langs.index)  # a helper language is never mined
    pools = {l: read_lines(layout.text("train", l), "training pool") for l in langs}
    dev = {l: read_lines(layout.text("dev", l), "dev set") for l in langs}
    results = {f"{s}-{t}": mine_pair(cfg, layout, name, s, t, pools, dev, checkpoint, encoder) for s, t in pair_list(cfg)}
    write_json(layout.results(name), results)
    rows = ["| pair | encoder | mined pairs | planted | P | R | F1 |", "|---|---|---|---|---|---|---|"]
    for pair, res in results.items():
        pl = res["planted"]
        rows.append(f"| {pair} | {encoder} | {res['mined']} | {pl['planted_pairs']} | {pl['precision']} "
                    f"| {pl['recall']} | {pl['f1']} |")
    write_text(layout.results(name, "md"), "\n".join(rows) + "\n")
    return results


def mine_pair(cfg, layout: RunLayout, name: str, src: str, tgt: str, pools: dict, dev: dict,
              checkpoint: Path | None, encoder: str) -> dict:
    from unmt.io import write_lines

    m = cfg.mine
    pools, dev = {l: pools[l] for l in (src, tgt)}, {l: dev[l] for l in (src, tgt)}
    encode = make_encoder(encoder, layout, src, tgt, pools, m.token_weight, checkpoint, m.hash_dim)
    check_pools(pools[src], pools[tgt], src, tgt)
    if m.index == "sharded":  # vectors streamed to disk chunk by chunk; the k-NN lists too (unmt/sharded.py)
        import shutil

        from unmt.sharded import encode_to_store

        scratch = layout.sentence_vectors(name, src, tgt)
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        vectors = {l: encode_to_store(encode, pools[l], l, scratch / f"{l}.f16") for l in (src, tgt)}
    else:
        vectors = {l: encode(pools[l], l) for l in (src, tgt)}
    pairs = mine_vectors(vectors[src], vectors[tgt], pools[src], pools[tgt], (src, tgt), m)
    write_lines(layout.mined(name, src, tgt), (f"{s:.4f}\t{pools[src][i]}\t{pools[tgt][j]}" for s, i, j in pairs))
    planted = planted_eval(encode, pools, vectors, dev, src, tgt, m, cfg.seed)
    if m.index == "sharded":
        shutil.rmtree(scratch, ignore_errors=True)
    return {"encoder": encoder, "pool": {src: len(pools[src]), tgt: len(pools[tgt])}, "mined": len(pairs),
            "planted": planted}


def read_mined(path: Path) -> tuple[list[str], list[str]]:
    from unmt.io import read_lines

    src, tgt = [], []
    for n, line in enumerate(read_lines(path, "mined bitext"), 1):
        parts = line.split("\t")
        if len(parts) != 3:
            raise UnmtError(f"{path}:{n}: expected 'score<TAB>source<TAB>target' -- write it with `unmt mine`")
        src.append(parts[1])
        tgt.append(parts[2])
    return src, tgt

"""Bibles from Debian's ``sword-text-*`` packages (SWORD zText modules) as a non-parallel corpus.

A zText module stores, per testament, ``.bzz`` (zlib blocks; BlockType=BOOK: one block per book),
``.bzs`` (block index: offset, size, uncompressed size as 3 x uint32) and ``.bzv`` (one entry per
verse slot of the versification: block, offset, size as uint32, uint32, uint16). Modules with the
same versification (KJV here) share slot numbers, so slot i is the same verse in each: that is
our alignment for dev/test. Books, never verses, are split into disjoint sets. Every line keeps its
origin as ``BOOK#module:testament:slot``, so the split can be checked line by line.
"""
from __future__ import annotations

import hashlib
import html
import re
import struct
import zlib
from pathlib import Path

from data_prep.debian import fetch_debian_package
from unmt.errors import UnmtError

MODULES = {  # language -> [(package, module dir, versification)]; the first is the aligned one
    "en": [("sword-text-kjv", "engKJV2006eb", "KJV"), ("sword-text-web", "engWEB2015eb", "NRSVA")],
    "es": [("sword-text-sparv", "spaRV1909eb", "KJV")],
}
BOOK_RE = re.compile(rb'osisID="([1-4A-Za-z]+)"[^>]*type="book"|type="book"[^>]*osisID="([1-4A-Za-z]+)"')
DROP_RE = re.compile(r"<(note|title)\b[^>]*>.*?</\1>", re.S)
TAG_RE = re.compile(r"<[^>]+>")


def clean(raw: bytes) -> str:
    text = DROP_RE.sub(" ", raw.decode("utf-8", "replace"))
    text = html.unescape(TAG_RE.sub("", text))
    return re.sub(r"\s+", " ", text).strip()


def read_ztext(module_dir: Path) -> list[tuple[str, str, int, str]]:
    """[(testament, book osisID, slot, verse text)] for every non-empty verse slot."""
    out = []
    for testament in ("ot", "nt"):
        if not (module_dir / f"{testament}.bzv").exists():
            continue
        bzs = (module_dir / f"{testament}.bzs").read_bytes()
        bzv = (module_dir / f"{testament}.bzv").read_bytes()
        bzz = (module_dir / f"{testament}.bzz").read_bytes()
        blocks, book_of = {}, {}
        for slot in range(len(bzv) // 10):
            block, offset, size = struct.unpack("<IIH", bzv[slot * 10: slot * 10 + 10])
            if size == 0:
                continue
            if block not in blocks:
                off, csize, _ = struct.unpack("<III", bzs[block * 12: block * 12 + 12])
                blocks = {block: zlib.decompress(bzz[off: off + csize])}  # books come in order: keep one
            raw = blocks[block][offset: offset + size]
            m = BOOK_RE.search(raw)
            if m and block not in book_of:
                book_of[block] = (m.group(1) or m.group(2)).decode()
            text = clean(raw)
            if text and block in book_of:
                out.append((testament, book_of[block], slot, text))
    return out


def assign_books(books: dict[str, int], min_held_out: int = 1000) -> dict[str, str]:
    """Books in hash order: test until >= min_held_out verses, then dev, then alternate src/tgt training."""
    order = sorted(books, key=lambda b: hashlib.sha1(b.encode()).hexdigest())
    split, counts = {}, {"test": 0, "dev": 0, "train_src": 0, "train_tgt": 0}
    for b in order:
        if counts["test"] < min_held_out:
            s = "test"
        elif counts["dev"] < min_held_out:
            s = "dev"
        else:
            s = min(("train_src", "train_tgt"), key=lambda k: counts[k])
        split[b] = s
        counts[s] += books[b]
    return split


def build(langs: list[str], cache: Path) -> dict:
    """The shape of ``libreoffice.build``, for two languages (the Bibles' versifications align pairs only)."""
    if len(langs) != 2:
        raise UnmtError(f"--langs: the Bible source builds two languages at a time (got {','.join(langs)})")
    src, tgt = langs
    versions, verses = {}, {}
    for lang in (src, tgt):
        if lang not in MODULES:
            raise UnmtError(f"--langs: no Bible module known for '{lang}' -- available: {' '.join(MODULES)}")
        verses[lang] = []
        for pkg, mod, versification in MODULES[lang]:
            root, versions[pkg] = fetch_debian_package(pkg, cache)
            rows = read_ztext(root / "usr/share/sword/modules/texts/ztext" / mod.lower())
            if not rows:
                rows = read_ztext(root / "usr/share/sword/modules/texts/ztext" / mod)
            verses[lang].append((mod, versification, rows))
    aligned = {lang: {(t, s): (b, x) for t, b, s, x in verses[lang][0][2]} for lang in (src, tgt)}
    book_sizes: dict[str, int] = {}
    for (t, s), (b, _) in aligned[src].items():
        if (t, s) in aligned[tgt]:
            book_sizes[b] = book_sizes.get(b, 0) + 1
    split = assign_books(book_sizes)
    out = {"train_src": [], "train_tgt": [], "dev": [], "test": []}
    for (t, s), (b, x) in sorted(aligned[src].items()):
        if split.get(b) in ("dev", "test") and (t, s) in aligned[tgt]:
            out[split[b]].append((f"{b}#{t}:{s}", x, aligned[tgt][(t, s)][1]))
    # Parallel passages (Kings/Chronicles, Jeremiah 52) repeat verses across books: held-out text
    # must not reach training even through another book.
    seen = {x for split_name in ("dev", "test") for row in out[split_name] for x in row[1:]}
    for lang, side in ((src, "train_src"), (tgt, "train_tgt")):
        for mod, _, rows in verses[lang]:
            for t, b, s, x in rows:
                if split.get(b) == side and x not in seen:
                    seen.add(x)
                    out[side].append((f"{b}#{mod}:{t}:{s}", x))
    label = {"train_src": f"train.{src}", "train_tgt": f"train.{tgt}", "dev": "dev", "test": "test"}
    return {"train": {src: out["train_src"], tgt: out["train_tgt"]},
            "dev": [(o, {src: a, tgt: b}) for o, a, b in out["dev"]],
            "test": [(o, {src: a, tgt: b}) for o, a, b in out["test"]],
            "pages": sorted((b, label[s]) for b, s in split.items()), "sources": versions}

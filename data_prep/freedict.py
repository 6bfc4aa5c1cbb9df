"""FreeDict bilingual dictionaries (Debian ``dict-freedict-XXX-YYY``, GPL) in MUSE's ``src tgt`` format.

dictd stores entries in a gzip'd ``.dict.dz`` addressed by base64 offsets in ``.index``; each
entry is a headword line (with pronunciation) followed by translations, comma separated and
optionally numbered. We keep single-word, lower-cased pairs, as MUSE's dictionaries do.
"""
from __future__ import annotations

import gzip
import re
from pathlib import Path

from data_prep.debian import fetch_debian_package, package_known

# ISO 639-1 -> the ISO 639-3 codes FreeDict's Debian packages are named by (dict-freedict-eng-fra, ...).
ISO3 = {"en": "eng", "fr": "fra", "de": "deu", "es": "spa", "it": "ita", "pt": "por", "nl": "nld", "ru": "rus",
        "cs": "ces", "da": "dan", "el": "ell", "fi": "fin", "hi": "hin", "hu": "hun", "id": "ind", "ja": "jpn",
        "pl": "pol", "sk": "slk", "sl": "slv", "sv": "swe", "tr": "tur", "en_gb": "eng", "pt_br": "por"}
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
WORD_RE = re.compile(r"^[^\W\d_]+(?:-[^\W\d_]+)*$")


def _b64(s: str) -> int:
    n = 0
    for ch in s:
        n = n * 64 + B64.index(ch)
    return n


def read_dictd(index: Path, data: Path) -> list[tuple[str, str]]:
    blob = gzip.open(data).read()
    pairs = []
    for line in index.read_text(encoding="utf-8").splitlines():
        head, off, length = line.split("\t")[:3]
        if head.startswith("00database"):
            continue
        body = blob[_b64(off):_b64(off) + _b64(length)].decode("utf-8", "replace").splitlines()[1:]
        src = head.strip().lower()
        for tline in body:
            tline = re.sub(r"^\s*\d+\.\s*", "", tline)
            for tgt in tline.split(","):
                tgt = tgt.strip().lower()
                if WORD_RE.match(src) and WORD_RE.match(tgt):
                    pairs.append((src, tgt))
    return sorted(set(pairs))


def dictionary(src: str, tgt: str, cache: Path) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """All single-word pairs src->tgt, merging the ``src-tgt`` package with the reversed ``tgt-src`` one.
    No package for either direction: no pairs (the caller says so); versions names what was used."""
    pairs, versions = set(), {}
    if src not in ISO3 or tgt not in ISO3:
        return [], {}
    for a, b, flip in ((src, tgt, False), (tgt, src, True)):
        pkg = f"dict-freedict-{ISO3[a]}-{ISO3[b]}"
        if not package_known(pkg, cache):  # one direction is enough; Debian has none for many
            continue
        root, ver = fetch_debian_package(pkg, cache)
        versions[pkg] = ver
        d = root / "usr/share/dictd"
        for s, t in read_dictd(d / f"freedict-{ISO3[a]}-{ISO3[b]}.index", d / f"freedict-{ISO3[a]}-{ISO3[b]}.dict.dz"):
            pairs.add((t, s) if flip else (s, t))
    return sorted(pairs), versions

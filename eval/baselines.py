"""Honest baselines every table shows: copy the source, and word-by-word with the induced lexicon."""
from __future__ import annotations

import re

TOKEN_RE = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*|\s+|.", re.UNICODE)


def copy_baseline(src_lines: list[str]) -> list[str]:
    return list(src_lines)


def word_by_word(src_lines: list[str], lexicon: dict[str, str]) -> list[str]:
    """Replace each word found in the lexicon (looked up lower-cased) by its translation, keeping
    capitalisation of the first letter; everything else (names, numbers, markup) is copied."""
    out = []
    for line in src_lines:
        parts = []
        for tok in TOKEN_RE.findall(line):
            tr = lexicon.get(tok.lower())
            if tr is None:
                parts.append(tok)
            else:
                parts.append(tr[:1].upper() + tr[1:] if tok[:1].isupper() else tr)
        out.append("".join(parts))
    return out

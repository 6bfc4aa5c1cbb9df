"""Honest baselines every table shows: copy the source, and word-by-word with the induced lexicon."""
from __future__ import annotations

from unmt.segment import segments, spaced


def copy_baseline(src_lines: list[str]) -> list[str]:
    return list(src_lines)


def word_by_word(src_lines: list[str], lexicon: dict[str, str], src: str, tgt: str) -> list[str]:
    """Replace each word found in the lexicon (looked up lower-cased) by its translation, keeping
    capitalisation of the first letter; everything else (names, numbers, markup) is copied. Words are the
    source language's (segmented where it has no spaces); translated words are joined the target's way:
    with a space when Chinese words become English ones, without one when English words become Chinese."""
    out = []
    for line in src_lines:
        parts: list[tuple[str, bool]] = []
        for tok in segments(line, src):
            tr = lexicon.get(tok.lower())
            if tr is None:
                parts.append((tok, False))
            else:
                parts.append((tr[:1].upper() + tr[1:] if tok[:1].isupper() else tr, True))
        text = []
        for k, (tok, translated) in enumerate(parts):
            prev = parts[k - 1] if k else ("", False)
            nxt = parts[k + 1] if k + 1 < len(parts) else ("", False)
            if tok.isspace() and not spaced(tgt) and prev[1] and nxt[1]:
                continue
            if translated and prev[1] and spaced(tgt) and not spaced(src):
                text.append(" ")
            text.append(tok)
        out.append("".join(text))
    return out

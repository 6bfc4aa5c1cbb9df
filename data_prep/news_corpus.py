"""Build a WMT-style non-parallel corpus: News Crawl per language from *different years*, WMT dev/test sets.

    python -m data_prep.news_corpus --pair en-fr --years en=2007,2009,2011,2013 --years fr=2008,2010,2012,2014 \\
        --dev wmt13 --test wmt14 --out corpora/wmt14-en-fr

Why different years: News Crawl of one year holds the same stories in many languages, often translated
(agency copy), so two languages' crawls of one year share translation pairs. XLM and Lample et al. split a
corpus into halves so that no sentence pair crosses; with monolingual crawls the years are the halves. Years
that overlap between the two languages are refused (``--allow-shared-years`` to override, and it is recorded).

Writes ``OUT/train.{SRC,TGT}`` (plain text: 10M-line files are read by streaming, not decompressed whole),
``dev.*``/``test.*`` from sacrebleu's test sets, a MUSE-format FreeDict test dictionary when one exists
(``--dictionary``), and manifest.json (years, downloads with sha256, line counts, lines dropped because they
occur in the dev or test sets, the command). Streams: memory does not grow with the corpus, except for the
dev/test sentence set it filters against. Downloads go through ``data_prep.download`` (resumable, checksummed).
"""
from __future__ import annotations

import gzip
import json
import shutil
import time
from pathlib import Path

import click

from data_prep.download import fetch_newscrawl, fetch_wmt
from unmt.cli import clean_errors
from unmt.errors import UnmtError
from unmt.io import atomic_path, sha256_file, write_json
from unmt.segment import check_language


def parse_years(items: tuple[str, ...], langs: list[str]) -> dict[str, list[int]]:
    from data_prep.download import year_list

    years = {}
    for item in items:
        lang, sep, spec = item.partition("=")
        if not sep or lang not in langs:
            raise UnmtError(f"--years: '{item}' is not LANG=YEARS for a language of --pair ({'-'.join(langs)}) "
                            "-- e.g. --years en=2007,2009 --years fr=2008,2010")
        years[lang] = year_list(spec)
    missing = [lang for lang in langs if lang not in years]
    if missing:
        raise UnmtError(f"--years: none given for {', '.join(missing)} -- give each language its own years, "
                        "e.g. --years en=2007,2009 --years fr=2008,2010")
    return years


def normalise(line: str) -> str:
    return " ".join(line.split())


def stream_train(files: list[Path], dest: Path, banned: set[str], max_lines: int | None) -> dict:
    """Concatenate the gzipped crawls into ``dest`` line by line, skipping empty lines and any sentence of the
    dev/test sets; stop at ``max_lines``. Written to a temp file and renamed (a killed build leaves nothing)."""
    kept = dropped_eval = empty = 0
    with atomic_path(dest) as tmp, open(tmp, "w", encoding="utf-8") as out:
        for path in files:
            with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
                for line in f:
                    text = normalise(line)
                    if not text:
                        empty += 1
                        continue
                    if text in banned:
                        dropped_eval += 1
                        continue
                    out.write(text + "\n")
                    kept += 1
                    if max_lines and kept >= max_lines:
                        break
            if max_lines and kept >= max_lines:
                break
    return {"lines": kept, "dropped_in_dev_or_test": dropped_eval, "empty": empty}


def build(pair: str, years: dict[str, list[int]], dev: str, test: str, out: Path, downloads: Path,
          mirror: str | None = None, max_lines: int | None = None, allow_shared_years: bool = False,
          with_dictionary: bool = True, cache: Path | None = None) -> dict:
    src, tgt = pair.split("-")
    for lang in (src, tgt):
        check_language(lang, "--pair")
    shared = sorted(set(years[src]) & set(years[tgt]))
    if shared and not allow_shared_years:
        raise UnmtError(f"--years: {src} and {tgt} share {', '.join(map(str, shared))}: a year's crawls hold the same "
                        "stories in both languages, often translated -- give each language different years "
                        "(or --allow-shared-years, recorded in the manifest)")
    t0 = time.time()
    tmp = out.with_name(out.name + ".building")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    eval_files = {}
    for split, test_set in (("dev", dev), ("test", test)):
        got = fetch_wmt(test_set, pair, downloads / "wmt", mirror)
        for lang, path in got.items():
            shutil.copyfile(path, tmp / f"{split}.{lang}")
            eval_files[f"{split}.{lang}"] = tmp / f"{split}.{lang}"
    counts = {}
    for lang in (src, tgt):
        banned = {normalise(line) for split in ("dev", "test")
                  for line in open(eval_files[f"{split}.{lang}"], encoding="utf-8")}
        crawl = fetch_newscrawl([lang], years[lang], downloads / "news-crawl", mirror)
        click.echo(f"[news_corpus] train.{lang}: streaming {len(crawl)} file(s)", err=True)
        counts[f"train.{lang}"] = stream_train(list(crawl.values()), tmp / f"train.{lang}", banned, max_lines)
    for split in ("dev", "test"):
        counts[split] = sum(1 for _ in open(eval_files[f"{split}.{src}"], encoding="utf-8"))
    dictionaries = {}
    if with_dictionary:
        dictionaries[pair] = _dictionary(src, tgt, tmp, cache or Path.home() / ".cache/unmt/debian")
    downloaded = {}
    for sub in ("wmt", "news-crawl"):
        manifest_path = downloads / sub / "manifest.json"
        if manifest_path.exists():
            downloaded.update({f"{sub}/{k}": v for k, v in
                               json.loads(manifest_path.read_text(encoding="utf-8"))["downloads"].items()})
    manifest = {
        "corpus": f"newscrawl-{pair}",
        "languages": [src, tgt],
        "pairs": [pair],
        "built_with": "python -m data_prep.news_corpus --pair {} {} --dev {} --test {}{}{} --out {}".format(
            pair, " ".join(f"--years {l}={','.join(map(str, years[l]))}" for l in (src, tgt)), dev, test,
            f" --max-lines {max_lines}" if max_lines else "", " --allow-shared-years" if shared else "", out),
        "split": (f"training sides from different News Crawl years ({src}: {years[src]}, {tgt}: {years[tgt]})"
                  + (f"; SHARED years {shared} (--allow-shared-years)" if shared else "")
                  + f"; dev = sacrebleu {dev}, test = sacrebleu {test}; training lines equal to a dev/test sentence dropped"),
        "years": years,
        "lines": counts,
        "downloads": downloaded,
        "dictionaries": dictionaries,
        "licence": "News Crawl: the WMT terms (research use; the articles' copyright stays with their owners); "
                   "WMT test sets: as published by WMT",
        "build_seconds": round(time.time() - t0, 1),
    }
    manifest["files"] = {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()}
    write_json(tmp / "manifest.json", manifest)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    click.echo(f"wrote {out}: {json.dumps(counts)}", err=True)
    return manifest


def _dictionary(src: str, tgt: str, tmp: Path, cache: Path, sample_lines: int = 500_000) -> dict:
    """FreeDict (or CC-CEDICT) test/train dictionaries, words counted on the first ``sample_lines`` lines."""
    import itertools

    from data_prep.build_corpus import dictionary, split_dictionary, words
    from unmt.io import write_lines

    try:
        entries, versions = dictionary(src, tgt, cache)
    except UnmtError as e:  # no apt-get here, or the package failed: the corpus is still usable without P@1
        return {"available": False, "why": str(e)}
    if not entries:
        return {"available": False, "why": f"no dictionary for {src}-{tgt}: P@1 is not available for this pair"}
    vocab = {}
    for lang in (src, tgt):
        with open(tmp / f"train.{lang}", encoding="utf-8") as f:
            vocab[lang] = words(itertools.islice(f, sample_lines), lang)
    kept, train, test = split_dictionary(entries, vocab[src], vocab[tgt])
    write_lines(tmp / f"dict.{src}-{tgt}.train.txt", (f"{s} {t}" for s, t in train))
    write_lines(tmp / f"dict.{src}-{tgt}.test.txt", (f"{s} {t}" for s, t in test))
    return {"available": True, "from": sorted(versions), "train_pairs": len(train), "test_pairs": len(test)}


@click.command()
@click.option("--pair", required=True, help="SRC-TGT: en-fr")
@click.option("--years", multiple=True, required=True, help="LANG=YEARS, once per language: en=2007,2009-2011")
@click.option("--dev", default="wmt13", show_default=True, help="sacrebleu test set for dev")
@click.option("--test", default="wmt14", show_default=True, help="sacrebleu test set for test")
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--downloads", type=click.Path(path_type=Path), default=Path("data/downloads"), show_default=True,
              help="where the downloaded files stay (resumable; reused by later builds)")
@click.option("--mirror", default=None, help="replace every URL's scheme and host with this (a local mirror)")
@click.option("--max-lines", type=int, default=None, help="per language (default: every line of the years given)")
@click.option("--allow-shared-years", is_flag=True, help="let both languages use a year (recorded in the manifest)")
@click.option("--dictionary/--no-dictionary", default=True, show_default=True,
              help="FreeDict / CC-CEDICT test dictionary for P@1 (Debian packages)")
@clean_errors
def main(pair, years, dev, test, out, downloads, mirror, max_lines, allow_shared_years, dictionary):
    if pair.count("-") != 1:
        raise UnmtError(f"--pair: '{pair}' is not SRC-TGT -- e.g. --pair en-fr")
    build(pair, parse_years(years, pair.split("-")), dev, test, out, downloads, mirror, max_lines,
          allow_shared_years, dictionary)


if __name__ == "__main__":
    main()

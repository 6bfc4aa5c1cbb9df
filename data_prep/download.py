"""Download the papers' data: News Crawl monolingual text, WMT test sets (through sacrebleu's own test-set
API), FLORES-200 dev/devtest. Resumable, checksummed, with progress; one-line errors.

    python -m data_prep.download newscrawl --langs en,fr --years 2007,2008 --out data/newscrawl
    python -m data_prep.download wmt --test-set wmt14 --pair en-fr --out data/wmt
    python -m data_prep.download flores --langs en,fr,zh --out data/flores200

Every file lands as ``OUT/...`` with a record (url, bytes, sha256) in ``OUT/manifest.json``. A download first
writes ``FILE.part``; an interrupted one (killed, or the connection dropped) resumes from the bytes it has with
an HTTP range request when the same command is run again. ``--mirror URL`` replaces the scheme and host of
every URL (a local mirror; the tests serve fixture files from localhost this way).

Checksums: sacrebleu lists an md5 for each WMT tarball and it is checked; News Crawl and FLORES publish none,
so their sha256 is recorded (and checked when given with ``--sha256 NAME=HEX``, e.g. from an earlier manifest).
"""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import click

from unmt.cli import clean_errors
from unmt.errors import UnmtError
from unmt.io import write_json

NEWSCRAWL_BASE = "https://data.statmt.org/news-crawl"
FLORES_URL = "https://dl.fbaipublicfiles.com/nllb/flores200_dataset.tar.gz"
# ISO 639-1 (what recipes name) -> FLORES-200 code; extend by one line per language
FLORES_CODES = {
    "ar": "arb_Arab", "cs": "ces_Latn", "de": "deu_Latn", "en": "eng_Latn", "es": "spa_Latn", "fi": "fin_Latn",
    "fr": "fra_Latn", "hi": "hin_Deva", "it": "ita_Latn", "ja": "jpn_Jpan", "ko": "kor_Hang", "nl": "nld_Latn",
    "pl": "pol_Latn", "pt": "por_Latn", "ro": "ron_Latn", "ru": "rus_Cyrl", "sv": "swe_Latn", "tr": "tur_Latn",
    "uk": "ukr_Cyrl", "zh": "zho_Hans",
}
CHUNK = 1 << 16


class DownloadError(UnmtError):
    """A download that failed; the message names the URL or file, what went wrong and what to do."""


def mirrored(url: str, mirror: str | None) -> str:
    """``url`` with its scheme and host replaced by ``mirror``'s (and ``mirror``'s path prefixed)."""
    if not mirror:
        return url
    u, m = urllib.parse.urlsplit(url), urllib.parse.urlsplit(mirror)
    return urllib.parse.urlunsplit((m.scheme, m.netloc, m.path.rstrip("/") + u.path, u.query, ""))


def file_digests(path: Path, *algorithms: str) -> dict[str, str]:
    """Every named digest of ``path`` in one read (a News Crawl year is gigabytes)."""
    hashes = {a: hashlib.new(a) for a in algorithms}
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            for h in hashes.values():
                h.update(block)
    return {a: h.hexdigest() for a, h in hashes.items()}


def _total_size(response, offset: int) -> int | None:
    """The whole file's size from a 200's Content-Length or a 206's Content-Range (``bytes a-b/total``)."""
    if response.status == 206:
        rng = response.headers.get("Content-Range", "")
        total = rng.rsplit("/", 1)[-1] if "/" in rng else ""
        return int(total) if total.isdigit() else None
    length = response.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def _progress(total: int | None, initial: int, name: str):
    from tqdm import tqdm

    # disable=None: a bar on a terminal, nothing in a log file
    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                disable=None, leave=False)


def download(url: str, dest: Path, *, md5: str | None = None, sha256: str | None = None,
             timeout: float = 60.0) -> dict:
    """Fetch ``url`` into ``dest`` (resuming ``dest.part``), check its checksum, rename it into place.

    Returns the record the manifest keeps: url, bytes, sha256 (and md5 when one was checked). An existing
    ``dest`` whose checksum matches is not fetched again.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        record = _verified(dest, url, md5, sha256, fresh=False)
        record["skipped"] = True
        return record
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "unmt-download/1"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        e.close()
        if e.code == 416 and offset:  # the range starts at or past the file's end: the .part is stale
            part.unlink()
            return download(url, dest, md5=md5, sha256=sha256, timeout=timeout)
        what = {404: "not found", 403: "forbidden", 410: "gone"}.get(e.code, e.reason)
        raise DownloadError(f"{url}: HTTP {e.code} ({what}) -- check the name (language code, year, test set) "
                            "against the source's listing, or the --mirror URL") from None
    except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as e:
        reason = getattr(e, "reason", e)
        host = urllib.parse.urlsplit(url).netloc
        raise DownloadError(f"{url}: cannot reach {host} ({reason}) -- no network here? download it on a machine "
                            f"that has one and copy it to {dest}, or pass --mirror URL") from None
    with response:
        if offset and response.status != 206:   # the server ignored the range: start over
            offset = 0
        total = _total_size(response, offset)
        received = offset
        try:
            with open(part, "ab" if offset else "wb") as out, _progress(total, offset, dest.name) as bar:
                while block := response.read(CHUNK):
                    out.write(block)
                    received += len(block)
                    bar.update(len(block))
        except (http.client.IncompleteRead, ConnectionError, socket.timeout, OSError):
            pass  # the size check below reports it; the .part keeps what arrived, for the next run to resume
    if total is not None and received < total:
        raise DownloadError(f"{url}: truncated, {received} of {total} bytes arrived (kept in {part}) -- run the "
                            "same command again to resume from there")
    if total is not None and received > total:
        part.unlink()
        raise DownloadError(f"{url}: {received} bytes arrived, more than the {total} announced (removed {part}) "
                            "-- run the same command again")
    os.replace(part, dest)
    return _verified(dest, url, md5, sha256, fresh=True)


def _verified(dest: Path, url: str, md5: str | None, sha256: str | None, fresh: bool) -> dict:
    digests = file_digests(dest, "sha256", *(["md5"] if md5 else []))
    record = {"url": url, "bytes": dest.stat().st_size, **digests}
    for name, expected in (("sha256", sha256), ("md5", md5)):
        got = digests.get(name)
        if expected and expected.lower() != got:
            bad = dest.with_name(dest.name + ".bad")
            os.replace(dest, bad)   # out of the way, so a rerun downloads afresh; kept to be looked at
            raise DownloadError(f"{dest}: {name} is {got}, expected {expected} ({'downloaded' if fresh else 'on disk'}"
                                f" from {url}; moved to {bad.name}) -- the file is corrupt or changed upstream: "
                                "run again to fetch it afresh; if it persists, check the source or --mirror")
    record["downloaded"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    return record


def record_in_manifest(out: Path, name: str, record: dict) -> None:
    """Add one file's record to ``out/manifest.json`` (written whole, atomically)."""
    path = out / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    manifest.setdefault("downloads", {})[name] = {k: v for k, v in record.items() if k != "skipped"}
    write_json(path, manifest)


# ----------------------------------------------------------------------------- sources
def newscrawl_url(lang: str, year: int, base: str = NEWSCRAWL_BASE) -> str:
    return f"{base}/{lang}/news.{year}.{lang}.shuffled.deduped.gz"


def fetch_newscrawl(langs: list[str], years: list[int], out: Path, mirror: str | None = None,
                    sha256: dict[str, str] | None = None) -> dict[str, Path]:
    """News Crawl ``news.YEAR.LANG.shuffled.deduped.gz`` for every language and year, into ``out/LANG/``."""
    files = {}
    for lang in langs:
        for year in years:
            name = f"{lang}/news.{year}.{lang}.shuffled.deduped.gz"
            url = mirrored(newscrawl_url(lang, year), mirror)
            record = download(url, out / name, sha256=(sha256 or {}).get(name))
            record_in_manifest(out, name, record)
            files[name] = out / name
            click.echo(f"[download] {name}: {record['bytes']:,} bytes"
                       f"{' (already here, checksum ok)' if record.get('skipped') else ''}", err=True)
    return files


def wmt_dataset(test_set: str, pair: str):
    from sacrebleu.dataset import DATASETS

    if test_set not in DATASETS:
        wmts = sorted(n for n in DATASETS if n.startswith("wmt") and "/" not in n)
        raise UnmtError(f"--test-set: sacrebleu has no test set '{test_set}' -- choose one of {', '.join(wmts)}")
    dataset = DATASETS[test_set]
    if pair not in dataset.langpairs:
        raise UnmtError(f"--pair: {test_set} has no pair '{pair}' -- it has {', '.join(sorted(dataset.langpairs))}")
    return dataset


def fetch_wmt(test_set: str, pair: str, out: Path, mirror: str | None = None, sha256: str | None = None) -> dict:
    """A WMT test set through sacrebleu's own test-set API, into ``out/TESTSET.PAIR.{SRC,TGT}``.

    The tarball is fetched by :func:`download` (resumable; sacrebleu's md5 checked, or ``sha256`` for a mirror
    that repacks) into sacrebleu's cache (``$SACREBLEU``, default ~/.sacrebleu), where sacrebleu's own
    ``process_to_text`` turns it into text, exactly as ``sacrebleu -t TESTSET -l PAIR`` would.
    """
    from sacrebleu.utils import extract_tarball

    dataset = wmt_dataset(test_set, pair)
    md5s = dataset.md5 or [None] * len(dataset.data)
    os.makedirs(dataset._rawdir, exist_ok=True)
    for url, md5 in zip(dataset.data, md5s):
        tarball = Path(dataset._rawdir) / dataset._get_tarball_filename(url)
        record = download(mirrored(url, mirror), tarball, md5=None if sha256 else md5, sha256=sha256)
        record_in_manifest(out, f"sacrebleu/{tarball.name}", record)
        if not record.get("skipped"):
            extract_tarball(str(tarball), dataset._rawdir)
    src, tgt = pair.split("-")
    out.mkdir(parents=True, exist_ok=True)
    source, refs = dataset.get_source_file(pair), dataset.get_reference_files(pair)
    written = {}
    for lang, path in ((src, source), (tgt, refs[0])):
        dest = out / f"{test_set}.{pair}.{lang}"
        shutil.copyfile(path, dest)
        written[lang] = dest
    click.echo(f"[download] {test_set} {pair}: {sum(1 for _ in open(written[src], encoding='utf-8')):,} sentences "
               f"-> {out}", err=True)
    return written


def flores_code(lang: str) -> str:
    if lang not in FLORES_CODES:
        raise UnmtError(f"--langs: no FLORES-200 code known for '{lang}' -- known: {', '.join(sorted(FLORES_CODES))}"
                        " (add it to FLORES_CODES in data_prep/download.py, e.g. 'ta': 'tam_Taml')")
    return FLORES_CODES[lang]


def fetch_flores(langs: list[str], out: Path, mirror: str | None = None, sha256: str | None = None) -> dict:
    """FLORES-200 dev and devtest for ``langs``, into ``out/{dev,devtest}.LANG`` (one tarball, fetched once)."""
    import tarfile

    codes = {lang: flores_code(lang) for lang in langs}
    tarball = out / "flores200_dataset.tar.gz"
    record = download(mirrored(FLORES_URL, mirror), tarball, sha256=sha256)
    record_in_manifest(out, tarball.name, record)
    written = {}
    with tarfile.open(tarball) as tar:
        members = {m.name: m for m in tar.getmembers()}
        for split in ("dev", "devtest"):
            for lang, code in codes.items():
                member = f"flores200_dataset/{split}/{code}.{split}"
                if member not in members:
                    raise DownloadError(f"{tarball}: has no {member} -- the tarball is not FLORES-200's; delete it "
                                        "and run again")
                dest = out / f"{split}.{lang}"
                with tar.extractfile(members[member]) as f, open(dest, "wb") as g:
                    shutil.copyfileobj(f, g)
                written[f"{split}.{lang}"] = dest
    click.echo(f"[download] FLORES-200 dev/devtest for {', '.join(langs)} -> {out}", err=True)
    return written


# ----------------------------------------------------------------------------- CLI
def _langs(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def year_list(text: str) -> list[int]:
    """``2007,2009-2011`` -> [2007, 2009, 2010, 2011] (the --years syntax of download and news_corpus)."""
    years = []
    for part in _langs(text):
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise UnmtError(f"--years: '{part}' is not a year or range -- e.g. --years 2007,2009-2011")
        years += list(range(int(lo), int(hi or lo) + 1))
    return years


def _checksums(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, hexdigest = item.rpartition("=")
        if not sep or len(hexdigest) != 64:
            raise UnmtError(f"--sha256: '{item}' is not NAME=64-hex-digits -- e.g. en/news.2007.en.shuffled.deduped.gz=ab12...")
        out[name] = hexdigest
    return out


@click.group()
def main():
    """Download News Crawl, WMT test sets and FLORES-200 (resumable, checksummed, recorded in OUT/manifest.json)."""


out_opt = click.option("--out", type=click.Path(path_type=Path), required=True)


def mirror_opt(what: str):
    return click.option("--mirror", default=None, help=f"replace {what} with this (scheme, host, prefix)")


@main.command()
@click.option("--langs", required=True, help="languages, comma separated: en,fr")
@click.option("--years", required=True, help="years: 2007,2008 or 2007-2010")
@out_opt
@mirror_opt("https://data.statmt.org")
@click.option("--sha256", multiple=True, help="NAME=HEX to check a file against (NAME as in the manifest)")
@clean_errors
def newscrawl(langs, years, out, mirror, sha256):
    """News Crawl monolingual text (data.statmt.org/news-crawl)."""
    fetch_newscrawl(_langs(langs), year_list(years), out, mirror, _checksums(sha256))


@main.command()
@click.option("--test-set", required=True, help="a sacrebleu test set: wmt13, wmt14, ...")
@click.option("--pair", required=True, help="SRC-TGT as sacrebleu names it: en-fr")
@out_opt
@mirror_opt("the tarball URL's scheme and host")
@click.option("--sha256", default=None, help="check this sha256 instead of sacrebleu's md5 (a mirror that repacks)")
@clean_errors
def wmt(test_set, pair, out, mirror, sha256):
    """A WMT test set through sacrebleu's test-set API (as `sacrebleu -t TESTSET -l PAIR`)."""
    fetch_wmt(test_set, pair, out, mirror, sha256)


@main.command()
@click.option("--langs", required=True, help="languages, comma separated: en,fr,zh")
@out_opt
@mirror_opt("https://dl.fbaipublicfiles.com")
@click.option("--sha256", default=None, help="the tarball's expected sha256 (FLORES publishes none)")
@clean_errors
def flores(langs, out, mirror, sha256):
    """FLORES-200 dev and devtest."""
    fetch_flores(_langs(langs), out, mirror, sha256)


if __name__ == "__main__":
    main()

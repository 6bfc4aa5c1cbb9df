"""Downloads against a real HTTP server on localhost (pytest-httpserver): News Crawl, WMT test sets through
sacrebleu's own test-set API, FLORES-200; resume after truncation, bad checksum, 404, no network; and the
WMT recipe's first stage on a corpus built from the served fixtures."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import socket
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from werkzeug import Response

from data_prep import download as dl
from data_prep import news_corpus
from conftest import unmt

ROOT = Path(__file__).resolve().parents[1]

EN = [f"The council met on day {i} to discuss the budget of town number {i % 7}." for i in range(300)]
FR = [f"Le conseil s'est réuni le jour {i} pour discuter du budget de la ville numéro {i % 5}." for i in range(300)]
DEV = {"en": ["The minister spoke in Paris.", "Markets fell again."],
       "fr": ["Le ministre a parlé à Paris.", "Les marchés ont encore baissé."]}
TEST = {"en": ["A new bridge opened.", "The team won the cup.", "Prices rose in May."],
        "fr": ["Un nouveau pont a ouvert.", "L'équipe a gagné la coupe.", "Les prix ont augmenté en mai."]}


def sgm(lines: list[str], lang: str) -> bytes:
    body = "".join(f'<seg id="{i + 1}">{line}</seg>\n' for i, line in enumerate(lines))
    return (f'<srcset setid="newstest" srclang="any">\n<doc sysid="ref" docid="d1" genre="news" origlang="{lang}">\n'
            f"{body}</doc>\n</srcset>\n").encode()


def tgz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def crawl(lines: list[str]) -> bytes:
    return gzip.compress(("\n".join(lines) + "\n").encode())


WMT13 = tgz({"test/newstest2013-src.en.sgm": sgm(DEV["en"], "en"), "test/newstest2013-src.fr.sgm": sgm(DEV["fr"], "fr")})
WMT14 = tgz({"test/newstest2014-fren-src.en.sgm": sgm(TEST["en"], "en"),
             "test/newstest2014-fren-ref.fr.sgm": sgm(TEST["fr"], "fr")})
FLORES = tgz({f"flores200_dataset/{split}/{code}.{split}": ("\n".join(f"{code} {split} {i}" for i in range(5)) + "\n").encode()
              for split in ("dev", "devtest") for code in ("eng_Latn", "fra_Latn", "zho_Hans")})
# one dev sentence sits in the crawl: the corpus builder must drop it from training
NEWS = {"/news-crawl/en/news.2007.en.shuffled.deduped.gz": crawl(EN[:150] + [DEV["en"][0]] + ["", *EN[150:]]),
        "/news-crawl/fr/news.2008.fr.shuffled.deduped.gz": crawl(FR)}


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def wmt_cache(tmp_path, monkeypatch):
    """sacrebleu's datasets write to ~/.sacrebleu (fixed when sacrebleu is imported): point wmt13/wmt14 at a
    temporary cache, and their md5s at the fixtures' (the served tarballs are not the real ones)."""
    from sacrebleu.dataset import DATASETS

    for name, data in (("wmt13", WMT13), ("wmt14", WMT14)):
        ds = DATASETS[name]
        monkeypatch.setattr(ds, "_outdir", str(tmp_path / "sacrebleu" / name))
        monkeypatch.setattr(ds, "_rawdir", str(tmp_path / "sacrebleu" / name / "raw"))
        monkeypatch.setattr(ds, "md5", [md5(data)])
    return tmp_path / "sacrebleu"


def serve_all(httpserver):
    for path, data in NEWS.items():
        httpserver.expect_request(path).respond_with_data(data)
    httpserver.expect_request("/wmt13/test.tgz").respond_with_data(WMT13)
    httpserver.expect_request("/wmt14/test-filtered.tgz").respond_with_data(WMT14)
    httpserver.expect_request("/nllb/flores200_dataset.tar.gz").respond_with_data(FLORES)
    return httpserver.url_for("/")


# -- the downloader -----------------------------------------------------------------------------------
def test_newscrawl_downloads_and_records_sha256(httpserver, tmp_path):
    mirror = serve_all(httpserver)
    files = dl.fetch_newscrawl(["en"], [2007], tmp_path / "nc", mirror)
    path = files["en/news.2007.en.shuffled.deduped.gz"]
    assert path.read_bytes() == NEWS["/news-crawl/en/news.2007.en.shuffled.deduped.gz"]
    record = json.loads((tmp_path / "nc" / "manifest.json").read_text())["downloads"]["en/news.2007.en.shuffled.deduped.gz"]
    assert record["sha256"] == sha(path.read_bytes()) and record["bytes"] == path.stat().st_size
    assert record["url"].endswith("/news-crawl/en/news.2007.en.shuffled.deduped.gz")
    assert not list((tmp_path / "nc").rglob("*.part"))
    # a second run finds the file, checks it and fetches nothing
    n = len(httpserver.log)
    dl.fetch_newscrawl(["en"], [2007], tmp_path / "nc", mirror)
    assert len(httpserver.log) == n


def test_resume_after_truncation_uses_a_range_request(httpserver, tmp_path):
    data = os.urandom(200_000)
    seen = []

    def handler(request):
        seen.append(request.headers.get("Range"))
        if len(seen) == 1:  # the connection drops after 70,000 of the announced bytes
            def body():
                yield data[:70_000]
                raise ConnectionResetError("dropped")
            return Response(body(), headers={"Content-Length": str(len(data))}, direct_passthrough=True)
        start = int(request.headers["Range"].split("=")[1].rstrip("-"))
        return Response(data[start:], status=206, headers={
            "Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}", "Content-Length": str(len(data) - start)})

    httpserver.expect_request("/f.gz").respond_with_handler(handler)
    dest = tmp_path / "f.gz"
    with pytest.raises(dl.DownloadError, match=r"truncated, 70000 of 200000 bytes .* run the same command again"):
        dl.download(httpserver.url_for("/f.gz"), dest, timeout=10)
    assert not dest.exists() and (tmp_path / "f.gz.part").stat().st_size == 70_000
    record = dl.download(httpserver.url_for("/f.gz"), dest, sha256=sha(data), timeout=10)
    assert seen == [None, "bytes=70000-"]
    assert dest.read_bytes() == data and record["sha256"] == sha(data)
    assert not (tmp_path / "f.gz.part").exists()


def test_a_server_that_ignores_the_range_restarts_cleanly(httpserver, tmp_path):
    data = os.urandom(50_000)
    httpserver.expect_request("/f.gz").respond_with_data(data)   # always 200, whole file
    (tmp_path / "f.gz.part").write_bytes(b"stale bytes from another file")
    dl.download(httpserver.url_for("/f.gz"), tmp_path / "f.gz")
    assert (tmp_path / "f.gz").read_bytes() == data


def test_bad_checksum_is_one_line_and_leaves_no_file_in_place(httpserver, tmp_path):
    mirror = serve_all(httpserver)
    name = "en/news.2007.en.shuffled.deduped.gz"
    r = CliRunner().invoke(dl.main, ["newscrawl", "--langs", "en", "--years", "2007", "--out", str(tmp_path),
                                     "--mirror", mirror, "--sha256", f"{name}={'0' * 64}"])
    assert r.exit_code == 2
    line = r.output.strip().splitlines()[-1]
    assert line.startswith("error: ") and "sha256 is" in line and "expected 0000" in line and "run again" in line
    assert not (tmp_path / name).exists() and (tmp_path / (name + ".bad")).exists()


def test_404_names_the_url(httpserver, tmp_path):
    httpserver.expect_request("/news-crawl/xx/news.1999.xx.shuffled.deduped.gz").respond_with_data("no", status=404)
    mirror = httpserver.url_for("/")
    r = CliRunner().invoke(dl.main, ["newscrawl", "--langs", "xx", "--years", "1999", "--out", str(tmp_path),
                                     "--mirror", mirror])
    assert r.exit_code == 2
    line = r.output.strip().splitlines()[-1]
    assert "news.1999.xx.shuffled.deduped.gz: HTTP 404 (not found)" in line and line.startswith("error: ")
    assert not list(tmp_path.rglob("*.gz*"))


def test_no_network_is_one_line(tmp_path):
    with socket.socket() as s:   # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = CliRunner().invoke(dl.main, ["newscrawl", "--langs", "en", "--years", "2007", "--out", str(tmp_path),
                                     "--mirror", f"http://127.0.0.1:{port}"])
    assert r.exit_code == 2
    line = r.output.strip().splitlines()[-1]
    assert "cannot reach 127.0.0.1" in line and "no network here?" in line and "--mirror" in line


def test_bad_years_and_unknown_test_set_are_one_line(tmp_path):
    r = CliRunner().invoke(dl.main, ["newscrawl", "--langs", "en", "--years", "20x7", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "--years: '20x7' is not a year" in r.output
    r = CliRunner().invoke(dl.main, ["wmt", "--test-set", "wmt99", "--pair", "en-fr", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "sacrebleu has no test set 'wmt99'" in r.output and "wmt14" in r.output
    r = CliRunner().invoke(dl.main, ["flores", "--langs", "en,qq", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "no FLORES-200 code known for 'qq'" in r.output


# -- WMT test sets through sacrebleu, FLORES ------------------------------------------------------------
def test_wmt_test_set_through_sacrebleus_api(httpserver, tmp_path, wmt_cache):
    mirror = serve_all(httpserver)
    got = dl.fetch_wmt("wmt14", "en-fr", tmp_path / "wmt", mirror)
    assert got["en"].read_text(encoding="utf-8").splitlines() == TEST["en"]
    assert got["fr"].read_text(encoding="utf-8").splitlines() == TEST["fr"]
    # sacrebleu itself now reads the same files (what `sacrebleu -t wmt14 -l en-fr` would score against)
    from sacrebleu.dataset import DATASETS
    assert list(DATASETS["wmt14"].source("en-fr")) == TEST["en"]
    record = json.loads((tmp_path / "wmt" / "manifest.json").read_text())["downloads"]["sacrebleu/wmt14.test-filtered.tgz"]
    assert record["md5"] == md5(WMT14) and record["sha256"] == sha(WMT14)


def test_wmt_checks_sacrebleus_md5(httpserver, tmp_path, wmt_cache, monkeypatch):
    from sacrebleu.dataset import DATASETS

    monkeypatch.setattr(DATASETS["wmt14"], "md5", ["84c597844c1542e29c2aff23aaee4310"])  # the real tarball's
    mirror = serve_all(httpserver)
    with pytest.raises(dl.DownloadError, match=r"md5 is [0-9a-f]{32}, expected 84c597844c1542e29c2aff23aaee4310"):
        dl.fetch_wmt("wmt14", "en-fr", tmp_path / "wmt", mirror)


def test_flores_dev_and_devtest(httpserver, tmp_path):
    mirror = serve_all(httpserver)
    got = dl.fetch_flores(["en", "zh"], tmp_path / "flores", mirror)
    assert sorted(got) == ["dev.en", "dev.zh", "devtest.en", "devtest.zh"]
    assert (tmp_path / "flores" / "devtest.zh").read_text().splitlines()[0] == "zho_Hans devtest 0"


# -- the corpus builder and the WMT recipe ------------------------------------------------------------
def test_news_corpus_refuses_shared_years(tmp_path):
    r = CliRunner().invoke(news_corpus.main, ["--pair", "en-fr", "--years", "en=2007,2008", "--years", "fr=2008",
                                              "--out", str(tmp_path / "c")])
    assert r.exit_code == 2 and "en and fr share 2008" in r.output and "different years" in r.output
    r = CliRunner().invoke(news_corpus.main, ["--pair", "en-fr", "--years", "en=2007", "--out", str(tmp_path / "c")])
    assert r.exit_code == 2 and "--years: none given for fr" in r.output


def test_wmt_recipe_runs_its_first_stage_on_the_served_corpus(httpserver, tmp_path, wmt_cache):
    mirror = serve_all(httpserver)
    corpus = tmp_path / "corpora" / "wmt14-en-fr"
    manifest = news_corpus.build("en-fr", {"en": [2007], "fr": [2008]}, "wmt13", "wmt14", corpus,
                                 tmp_path / "downloads", mirror, with_dictionary=False)
    assert (corpus / "train.en").read_text(encoding="utf-8").splitlines() == EN   # dev sentence and blank dropped
    assert (corpus / "train.fr").read_text(encoding="utf-8").splitlines() == FR
    assert (corpus / "dev.fr").read_text(encoding="utf-8").splitlines() == DEV["fr"]
    assert (corpus / "test.en").read_text(encoding="utf-8").splitlines() == TEST["en"]
    assert manifest["lines"]["train.en"] == {"lines": 300, "dropped_in_dev_or_test": 1, "empty": 1}
    assert manifest["years"] == {"en": [2007], "fr": [2008]}
    assert {r["sha256"] for r in manifest["downloads"].values()} >= {sha(d) for d in NEWS.values()}
    # the committed recipe, its corpus path as written (relative, from tmp_path), changed only where a 300-line
    # fixture cannot follow: a 60k vocabulary, 8 GPUs, a FreeDict test dictionary (built without Debian here)
    unmt("prepare", ROOT / "recipes" / "scale" / "wmt14-en-fr.yaml", "--run-dir", tmp_path / "run",
         "--set", "prepare.vocab_size=60", "--set", "nproc=1", "--set", "dictionary_test=null", cwd=tmp_path)
    stage = json.loads((tmp_path / "run" / "manifest.json").read_text())["stages"]["prepare"]
    assert stage["result"]["train.en"] == 300 and stage["config"]["vocab_size"] == 60
    assert stage["config"]["max_len"] == 175   # the recipe's own field, not the preset's
    assert stage["result"]["train_shards"] == {"en": 1, "fr": 1}   # the recipe streams its corpus (shard_lines)

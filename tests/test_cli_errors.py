"""Bad input: one line on stderr naming the file and the fix, exit code 2, no half-written output."""
import subprocess

import pytest

from conftest import ROOT, unmt


def one_line_error(r):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


def test_missing_recipe():
    msg = one_line_error(unmt("run", "recipes/does-not-exist.yaml", check=False))
    assert "recipes/does-not-exist.yaml" in msg and "not found" in msg


def test_report_on_a_folder_that_is_no_run_nor_sweep(tmp_path):
    """python -m eval.report names the argument that is neither a run folder nor a sweep folder, before
    writing anything."""
    import sys

    r = subprocess.run([sys.executable, "-m", "eval.report", str(tmp_path / "runs/none")], cwd=ROOT,
                       capture_output=True, text=True)
    msg = one_line_error(r)
    assert str(tmp_path / "runs/none") in msg and "give runs/NAME or sweeps/NAME" in msg


def test_missing_corpus_file(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"preset: tiny\nname: t\ncorpus: {tmp_path / 'nowhere'}\n")
    msg = one_line_error(unmt("prepare", recipe, "--run-dir", tmp_path / "run", check=False))
    assert "nowhere" in msg and "not found" in msg
    assert not (tmp_path / "run" / "prepare" / "spm.model").exists()


@pytest.mark.parametrize("content,problem", [(b"", "empty"), (b"\n  \n", "empty"), (b"caf\xe9\n", "UTF-8")])
def test_bad_evaluate_inputs(tmp_path, content, problem):
    hyp, ref = tmp_path / "hyp.txt", tmp_path / "ref.txt"
    hyp.write_bytes(content)
    ref.write_text("a reference\n")
    msg = one_line_error(unmt("evaluate", "--hyp", hyp, "--ref", ref, check=False))
    assert str(hyp) in msg and problem in msg


@pytest.mark.parametrize("cut", [0, 40])
def test_empty_or_truncated_xz_input(tmp_path, cut):
    import lzma

    hyp, ref = tmp_path / "hyp.txt.xz", tmp_path / "ref.txt"
    hyp.write_bytes(lzma.compress(b"a hypothesis\n" * 50)[:cut])  # what an interrupted download leaves
    ref.write_text("a reference\n")
    msg = one_line_error(unmt("evaluate", "--hyp", hyp, "--ref", ref, check=False))
    assert str(hyp) in msg and "not a valid .xz file" in msg


def test_unknown_language_and_mismatched_lines(tiny_run, tmp_path):
    msg = one_line_error(unmt("translate", "--run-dir", tiny_run, "--src", "en", "--tgt", "xx",
                              input="hello\n", check=False))
    assert "unknown language 'xx'" in msg
    hyp, ref = tmp_path / "h", tmp_path / "r"
    hyp.write_text("one\ntwo\n")
    ref.write_text("one\n")
    assert "line" in one_line_error(unmt("evaluate", "--hyp", hyp, "--ref", ref, check=False))


def test_corrupt_checkpoint_and_mismatched_dictionary(tiny_run, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes((tiny_run / "train/checkpoint_last.pt").read_bytes()[:5000])
    msg = one_line_error(unmt("translate", "--run-dir", tiny_run, "--src", "en", "--tgt", "fr",
                              "--checkpoint", bad, input="hello\n", check=False))
    assert "bad.pt" in msg and "corrupt" in msg
    # a run directory whose dictionary is not the checkpoint's
    other = tmp_path / "other"
    (other / "prepare" / "bin").mkdir(parents=True)
    for f in ("spm.model",):
        (other / "prepare" / f).write_bytes((tiny_run / "prepare" / f).read_bytes())
    d = (tiny_run / "prepare/bin/dict.txt").read_text(encoding="utf-8").splitlines()
    (other / "prepare/bin/dict.txt").write_text("\n".join(d[:-10] + d[-3:]) + "\n", encoding="utf-8")
    msg = one_line_error(unmt("translate", "--run-dir", other, "--src", "en", "--tgt", "fr", "--checkpoint",
                              tiny_run / "train/checkpoint_last.pt", input="hello\n", check=False))
    assert "dict" in msg and "prepare/" in msg


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    from unmt.io import atomic_path

    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_evaluate_matches_sacrebleu_cli(tmp_path):
    ref = (ROOT / "corpora/libreoffice-en-fr/dev.fr.xz")
    import lzma

    refs = lzma.open(ref, "rt", encoding="utf-8").read().splitlines()[:300]
    hyps = lzma.open(ROOT / "corpora/libreoffice-en-fr/dev.en.xz", "rt", encoding="utf-8").read().splitlines()[:300]
    (tmp_path / "ref").write_text("\n".join(refs) + "\n", encoding="utf-8")
    (tmp_path / "hyp").write_text("\n".join(hyps) + "\n", encoding="utf-8")
    import json
    import sys

    ours = json.loads(unmt("evaluate", "--hyp", tmp_path / "hyp", "--ref", tmp_path / "ref", "--lang", "fr", "--json").stdout)
    cli = subprocess.run([sys.executable, "-m", "sacrebleu", str(tmp_path / "ref"), "-i", str(tmp_path / "hyp"),
                          "-m", "bleu", "chrf", "-b", "-w", "2"], capture_output=True, text=True, check=True)
    bleu, chrf = json.loads(cli.stdout)  # sacrebleu -b with two metrics prints a JSON list
    assert ours["bleu"] == bleu and ours["chrf"] == chrf
    cli = subprocess.run([sys.executable, "-m", "sacrebleu", str(tmp_path / "ref"), "-i", str(tmp_path / "hyp"),
                          "-m", "chrf", "--chrf-word-order", "2", "-b", "-w", "2"], capture_output=True, text=True,
                         check=True)
    assert ours["chrf_pp"] == float(cli.stdout) != ours["chrf"]


def test_invalid_utf8_on_translate_stdin(tiny_run):
    import sys

    r = subprocess.run([sys.executable, "-m", "unmt.cli", "translate", "--run-dir", str(tiny_run), "--src", "en",
                        "--tgt", "fr"], input=b"caf\xe9\n", capture_output=True, cwd=ROOT)
    r.stderr = r.stderr.decode()
    msg = one_line_error(r)
    assert "stdin" in msg and "UTF-8" in msg


def test_bad_corpus_leaves_no_stage_folder(tmp_path):
    import shutil

    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "corpora/libreoffice-en-fr", corpus)
    (corpus / "train.fr.xz").unlink()
    (corpus / "train.fr").write_bytes(b"ligne un\ncaf\xe9\n")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"preset: tiny\nname: t\ncorpus: {corpus}\ndictionary_test: null\n")
    msg = one_line_error(unmt("run", recipe, "--run-dir", tmp_path / "run", check=False))
    assert "train.fr" in msg and "UTF-8" in msg
    assert not (tmp_path / "run" / "prepare").exists()
    manifest = tmp_path / "run" / "manifest.json"
    assert not manifest.exists() or "prepare" not in manifest.read_text()


def test_vec_header_that_lies_about_the_count(tmp_path):
    from unmt.align import read_vec
    from unmt.errors import UnmtError

    rows = "".join(f"w{i} 1 2 3\n" for i in range(20))
    (tmp_path / "short.vec").write_text("30 3\n" + rows)
    with pytest.raises(UnmtError, match="header says 30"):
        read_vec(tmp_path / "short.vec")
    (tmp_path / "long.vec").write_text("12 3\n" + rows)
    with pytest.raises(UnmtError, match="more vectors than its header"):
        read_vec(tmp_path / "long.vec")
    assert len(read_vec(tmp_path / "short.vec", max_words=10)[0]) == 10  # a prefix read is fine

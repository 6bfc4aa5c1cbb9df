"""Languages beyond en-fr: words of unspaced scripts, the corpus builder's language checks, and the tiny
recipe run end to end on English-Chinese by config alone."""
import json
import subprocess
import sys

import pytest

from conftest import ROOT, unmt
from eval.baselines import word_by_word
from eval.scoring import score_translations
from unmt.segment import segments, words


def test_chinese_is_segmented_into_words_not_clauses():
    line = "打开文件对话框，然后选择 LibreOffice 文档。"
    ws = words(line, "zh")
    assert "文件" in ws and "libreoffice" in ws
    assert all(len(w) <= 4 for w in ws if not w.isascii())
    assert "".join(segments(line, "zh")) == line  # nothing dropped: word-by-word can rebuild the line
    # a spaced language is split by the Unicode word pattern, as before
    assert words("Open the file-dialog, 3 times.", "en") == ["open", "the", "file-dialog", "3", "times"]


def test_word_by_word_joins_words_the_target_languages_way():
    lex_en_zh = {"open": "打开", "the": "该", "file": "文件"}
    assert word_by_word(["Open the file now"], lex_en_zh, "en", "zh") == ["打开该文件 now"]
    lex_zh_en = {"打开": "open", "文件": "file"}
    assert word_by_word(["打开文件"], lex_zh_en, "zh", "en") == ["open file"]
    assert word_by_word(["Open the file"], {"file": "fichier"}, "en", "fr") == ["Open the fichier"]


def test_bleu_into_chinese_uses_sacrebleus_zh_tokenizer():
    ref = ["打开文件对话框。"]
    s = score_translations(["打开文件对话框。"], ref, "zh")
    assert s["bleu"] == 100.0 and "tok:zh" in s["bleu_signature"] and s["tok_bleu_signature"].startswith("jieba-seg(zh)")
    # with 13a the unspaced line would be one token: a near miss would score 0 instead of partial credit
    partial = score_translations(["打开文件窗口。"], ref, "zh")
    assert 0 < partial["bleu"] < 100
    assert "tok:13a" in score_translations(["a b c d"], ["a b c d"], "fr")["bleu_signature"]


@pytest.mark.parametrize("args, message", [
    (["--langs", "en,xx"], "no LibreOffice help for xx -- available: ca cs"),
    (["--langs", "en,ja"], "'ja' is written without spaces and needs fugashi"),
    (["--langs", "en"], "give two or more different languages"),
    (["--pair", "en-fr", "--langs", "en,fr"], "not both"),
    (["--langs", "en,fr,de", "--pairs", "en-it"], "--pairs: en-it is not two different languages of --langs"),
])
def test_corpus_builder_rejects_bad_languages_in_one_line(tmp_path, args, message):
    r = subprocess.run([sys.executable, "-m", "data_prep.build_corpus", *args, "--out", str(tmp_path / "c"),
                        "--cache", str(tmp_path / "cache")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "c").exists() and not (tmp_path / "cache").exists()  # nothing fetched or written


def test_recipe_with_an_unsegmentable_language_is_one_line(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("preset: tiny\nname: t\nlangs: [en, ja]\ncorpus: corpora/libreoffice-en-zh\ndictionary_test: null\n")
    r = unmt("run", recipe, "--run-dir", tmp_path / "run", check=False)
    assert r.returncode == 2 and "langs: 'ja' is written without spaces" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def tiny_en_zh(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("tiny-en-zh") / "run"
    unmt("run", "recipes/tiny-en-zh.yaml", "--run-dir", run_dir, "--quiet")
    return run_dir


def test_tiny_recipe_runs_end_to_end_on_english_chinese(tiny_en_zh):
    res = json.loads((tiny_en_zh / "evaluate/results.json").read_text())
    assert set(res["directions"]) == {"en-zh", "zh-en"}
    into_zh, into_en = res["directions"]["en-zh"]["unmt"], res["directions"]["zh-en"]["unmt"]
    assert "tok:zh" in into_zh["bleu_signature"] and "tok:13a" in into_en["bleu_signature"]
    # the word-level stages found Chinese words: the PPMI vocabulary is made of segmented words, not clauses
    zh_words = (tiny_en_zh / "align/words.zh.txt").read_text(encoding="utf-8").split()
    assert len(zh_words) > 100 and sum(len(w) for w in zh_words) / len(zh_words) < 4
    assert (tiny_en_zh / "compress/results.json").exists()
    hyps = (tiny_en_zh / "evaluate").glob("*en-zh*")
    assert any(p.stat().st_size for p in hyps)

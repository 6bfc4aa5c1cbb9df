"""Languages beyond en-fr: words of unspaced scripts, the corpus builder's language checks, and the tiny
recipe run end to end on English-Chinese by config alone."""
import json
import math
import re
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


def test_japanese_words_are_mecab_words_and_bleu_uses_sacrebleus_ja_mecab():
    line = "「ファイル」メニューの Open コマンドで、ダイアログを開きます。"
    ws = words(line, "ja")
    assert {"ファイル", "メニュー", "open", "コマンド", "ダイアログ", "開き"} <= set(ws) and "、" not in ws
    assert "".join(segments(line, "ja")) == line
    # the words the lexicon and word-by-word use are the tokens ja-mecab BLEU counts
    from sacrebleu.tokenizers.tokenizer_ja_mecab import TokenizerJaMecab
    assert [w for w in TokenizerJaMecab()(line).lower().split() if w in ws] == ws
    s = score_translations(["ダイアログを開きます。"], ["ダイアログを閉じます。"], "ja")
    assert "tok:ja-mecab-" in s["bleu_signature"] and s["tok_bleu_signature"].startswith("mecab-seg(ja)")
    assert 0 < s["bleu"] < 100
    assert word_by_word(["Open the dialog"], {"open": "開く", "dialog": "ダイアログ"}, "en", "ja") == ["開く the ダイアログ"]


@pytest.mark.parametrize("args, message", [
    (["--langs", "en,xx"], "no LibreOffice help for xx -- available: ca cs"),
    (["--langs", "cs,sk"], "no LibreOffice help for sk"),  # Debian's Slovak help is a link to the Czech
    (["--langs", "en,km"], "'km' is written without spaces and needs a Khmer segmenter"),
    (["--langs", "en"], "give two or more different languages"),
    (["--pair", "en-fr", "--langs", "en,fr"], "not both"),
    (["--langs", "en,fr,de", "--pairs", "en-it"], "--pairs: en-it is not two different languages of --langs"),
])
def test_corpus_builder_rejects_bad_languages_in_one_line(tmp_path, args, message):
    r = subprocess.run([sys.executable, "-m", "data_prep.build_corpus", *args, "--out", str(tmp_path / "c"),
                        "--cache", str(tmp_path / "cache")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "c").exists() and not (tmp_path / "cache").exists()  # nothing fetched or written


def test_a_help_package_that_links_another_languages_help_is_refused(tmp_path):
    """libreoffice-help-sk ships help/sk -> cs: building from it would call Czech text Slovak."""
    from data_prep.libreoffice import help_root
    from unmt.errors import UnmtError

    root = tmp_path / "libreoffice-help-pl"
    (root / "usr/share/libreoffice/help/cs").mkdir(parents=True)
    (root / "usr/share/libreoffice/help/pl").symlink_to("cs")
    (root / ".version").write_text("1:7.4\n")
    with pytest.raises(UnmtError, match=r"help/pl is a link to cs, another language's help -- there is no pl text"):
        help_root("pl", tmp_path)
    (root / "usr/share/libreoffice/help/pl").unlink()
    with pytest.raises(UnmtError, match="holds no pl help text"):
        help_root("pl", tmp_path)


def test_untranslated_help_is_counted_against_englishs_paragraph_of_the_same_id(tmp_path):
    """Finnish help is mostly English left untranslated (docs/findings.md): the share counts paragraphs
    identical to English's paragraph with the same page and id, and nothing else."""
    from data_prep.untranslated import untranslated_share

    def page(lang, folder, paragraphs):
        root = tmp_path / f"libreoffice-help-{ {'en': 'en-us'}.get(lang, lang)}"
        d = root / "usr/share/libreoffice/help" / folder / "text"
        d.mkdir(parents=True, exist_ok=True)
        (root / ".version").write_text("1:7.4\n")
        (d / "a.html").write_text("".join(f'<p id="par_id{i}">{t}</p>' for i, t in paragraphs.items()))

    page("en", "en-US", {1: "Open a file.", 2: "Close the window.", 3: "Ctrl+S", 4: "Print."})
    page("fi", "fi", {1: "Avaa tiedosto.", 2: "Close the window.", 3: "Ctrl+S", 5: "Tulosta."})
    # 1, 2 and 3 have letters and an English paragraph; 2 and 3 are English's text; 5 has no English twin
    assert untranslated_share("fi", tmp_path) == {"paragraphs": 3, "identical": 2, "share": 0.6667}
    r = subprocess.run([sys.executable, "-m", "data_prep.untranslated", "fi", "--cache", str(tmp_path)], cwd=ROOT,
                       capture_output=True, text=True)
    assert "| fi | 3 | 2 | 66.7% |" in r.stdout, r.stderr
    r = subprocess.run([sys.executable, "-m", "data_prep.untranslated", "xx", "--cache", str(tmp_path)], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 2 and "no LibreOffice help for xx" in r.stderr and "Traceback" not in r.stderr


def test_recipe_with_an_unsegmentable_language_is_one_line(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("preset: tiny\nname: t\nlangs: [en, km]\ncorpus: corpora/libreoffice-en-zh\ndictionary_test: null\n")
    r = unmt("run", recipe, "--run-dir", tmp_path / "run", check=False)
    assert r.returncode == 2 and "langs: 'km' is written without spaces" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists()


def run_recipe(tmp_path_factory, recipe: str):
    run_dir = tmp_path_factory.mktemp(recipe) / "run"
    unmt("run", f"recipes/tests/{recipe}.yaml", "--run-dir", run_dir, "--quiet")
    return run_dir


@pytest.fixture(scope="module")
def tiny_en_zh(tmp_path_factory):
    return run_recipe(tmp_path_factory, "tiny-en-zh")


def test_tiny_recipe_runs_end_to_end_on_english_chinese(tiny_en_zh):
    res = json.loads((tiny_en_zh / "evaluate/results.json").read_text())
    assert set(res["directions"]) == {"en-zh", "zh-en"}
    into_zh, into_en = res["directions"]["en-zh"]["unmt"], res["directions"]["zh-en"]["unmt"]
    assert "tok:zh" in into_zh["bleu_signature"] and "tok:13a" in into_en["bleu_signature"]
    # the word-level stages found Chinese words: the PPMI vocabulary is made of segmented words, not clauses
    zh_words = (tiny_en_zh / "align/words.zh.txt").read_text(encoding="utf-8").split()
    assert len(zh_words) > 100 and sum(len(w) for w in zh_words) / len(zh_words) < 4
    lexicon = json.loads((tiny_en_zh / "align/results.json").read_text())
    for direction in ("en-zh", "zh-en"):  # the context method ran in the stage, from the run's own text
        ctx = lexicon[direction]["methods"]["context"]
        assert ctx["anchors_spelled_alike"] > 0 and ctx["dictionary_size"] > ctx["anchors_spelled_alike"]
        assert "p@1" in ctx and "criterion" in ctx
    assert (tiny_en_zh / "compress/results.json").exists()
    hyps = (tiny_en_zh / "evaluate").glob("*en-zh*")
    assert any(p.stat().st_size for p in hyps)
    # the checkpoint carries --target-vocab-min-count: decoding into English may use only pieces English
    # training text has, so no piece made of Chinese characters that text lacks
    from unmt.layout import RunLayout
    from unmt.plugin.unmt_backtranslation import TargetVocabularySearch
    from unmt.prepare import lang_token
    from unmt.translate import Translator

    assert "--target-vocab-min-count 1" in (tiny_en_zh / "train/command.txt").read_text()
    tr = Translator(tiny_en_zh / "train/checkpoint_last.pt", RunLayout(tiny_en_zh))
    search = tr.generator.search
    assert isinstance(search, TargetVocabularySearch)
    english = (tiny_en_zh / "prepare/text/train.en").read_text(encoding="utf-8")
    chinese_only = [i for i, sym in enumerate(tr.dict.symbols)
                    if re.fullmatch(r"\u2581?[\u4e00-\u9fff]+", sym) and sym.lstrip("\u2581") not in english]
    allowed_into = lambda lang: search.rows[search.row_of[tr.dict.index(lang_token(lang))]] == 0  # noqa: E731
    assert len(chinese_only) > 100 and not allowed_into("en")[chinese_only].any()
    assert allowed_into("zh")[chinese_only].float().mean() > 0.9 and allowed_into("en")[tr.dict.eos()]


def test_encoder_word_vectors_are_per_segmented_word_at_every_layer(tiny_en_zh):
    # align.vectors: encoder and eval.lm_lexicon read words off the model: Chinese words, not clauses
    from unmt.align import word_vectors_from_model
    from unmt.layout import RunLayout
    from unmt.segment import words as segmented
    from unmt.translate import Translator

    tr = Translator(tiny_en_zh / "pretrain/checkpoint_last.pt", RunLayout(tiny_en_zh))
    lines = (tiny_en_zh / "prepare/text/train.zh").read_text(encoding="utf-8").splitlines()[:300]
    words, V = word_vectors_from_model(tr, lines, "zh", max_words=300)
    jieba_words = {w for line in lines for w in segmented(line, "zh")}
    assert len(words) > 50 and sum(w in jieba_words for w in words) / len(words) > 0.95
    assert sum(len(w) for w in words) / len(words) < 4 and V.shape == (len(words), tr.model.encoder.embed_tokens.embedding_dim)
    _, layered = word_vectors_from_model(tr, lines, "zh", max_words=300, all_layers=True)
    # the table's rows, the embedded input, then each layer
    assert layered.shape == (len(words), len(tr.model.encoder.layers) + 2, V.shape[1])


def test_target_vocabulary_search_keeps_each_language_in_its_own_pieces():
    import torch
    from fairseq.data import Dictionary

    from unmt.plugin.unmt_backtranslation import TargetVocabularySearch

    d = Dictionary()
    for sym in ["a", "b", "c", "x", "y", "__en__", "__zh__"]:
        d.add_symbol(sym)
    en, zh = d.index("__en__"), d.index("__zh__")
    masks = {tag: torch.full((len(d),), -math.inf) for tag in (en, zh)}
    masks[en][[d.index("a"), d.index("b"), d.eos()]] = 0.0
    masks[zh][[d.index("x"), d.eos()]] = 0.0
    search = TargetVocabularySearch(d, masks)
    torch.manual_seed(0)
    lprobs = torch.randn(3, 1, len(d))
    lprobs[:, :, d.index("c")] = 10.0  # the best piece everywhere, but neither language's
    prev = torch.tensor([[en], [zh], [d.eos()]])  # decoding starts from a tag; eos: a model without tags
    _, tokens, _ = search.step(0, lprobs, None, prev, torch.arange(3))
    chosen = tokens[:, 0].tolist()
    assert chosen[0] in (d.index("a"), d.index("b"), d.eos()) and chosen[1] in (d.index("x"), d.eos())
    assert chosen[2] == d.index("c")


def test_target_mask_leaves_out_pieces_far_more_frequent_in_another_language():
    import numpy as np

    from unmt.plugin.unmt_backtranslation import target_mask

    # pieces: 0 eos, 1 shared ("Calc"), 2 English "the" quoted in French text, 3 French "le", 4 in neither
    counts = {"en": np.array([0, 100, 1000, 2, 0]), "fr": np.array([0, 100, 10, 1000, 0])}
    kept = lambda lang, **kw: (target_mask(lang, counts, eos=0, **kw) == 0).tolist()  # noqa: E731
    # a count alone keeps "the" in French output: French text has it ten times
    assert kept("fr", min_count=1, min_ratio=0.0) == [True, True, True, True, False]
    # the ratio leaves it out (1/100 as frequent in French), keeps shared pieces and French ones
    assert kept("fr", min_count=1, min_ratio=0.1) == [True, True, False, True, False]
    assert kept("en", min_count=0, min_ratio=0.1) == [True, True, True, False, True]
    # shares of each language's text, not raw counts: ten times as much English text changes nothing
    counts["en"] = counts["en"] * 10
    assert kept("fr", min_count=1, min_ratio=0.1) == [True, True, False, True, False]
    assert kept("fr", min_count=1, min_ratio=0.001) == [True, True, True, True, False]


# ----------------------------------------------------------------------------- several languages, one model
@pytest.mark.parametrize("fields, message", [
    ("langs: [en, fr, zh]\npairs: [en-fr, fr-en]\n", "pairs: 'fr-en' is given twice"),
    ("langs: [en, fr, zh]\npairs: [en-fr, en-it]\n", "pairs: 'en-it' -- a pair is 'src-tgt' with two different languages of langs"),
    ("langs: [en, fr, en]\n", "langs: ['en', 'fr', 'en'] -- give two or more different language codes"),
    ("langs: [en, fr, zh]\ndictionary_test: corpora/libreoffice-5/dict.en-fr.test.txt\n",
     "names one file for 2 pairs -- write its path with {pair} in it"),
    ("langs: [en, fr, zh]\ndictionary_test: corpora/libreoffice-5/nothing.{pair}.txt\n", "dictionary_test not found for any pair"),
    ("supervised_ceiling: true\nablation: {v: {lambda_bt: '0'}}\n", "supervised_ceiling: an ablation recipe has no main"),
    ("supervised_ceiling: true\ncorpus: corpora/bible-en-es\nlangs: [en, es]\ndictionary_test: null\n",
     "parallel.en-es.en.xz: supervised_ceiling needs the corpus's parallel files"),
])
def test_recipe_languages_and_pairs_are_checked_in_one_line(tmp_path, fields, message):
    recipe = tmp_path / "r.yaml"
    corpus = "" if "corpus:" in fields else "corpus: corpora/libreoffice-5\n"  # a key given once (twice is an error)
    recipe.write_text(f"preset: tiny\nname: t\n{corpus}{fields}")
    r = unmt("run", recipe, "--run-dir", tmp_path / "run", check=False)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "run").exists()


def test_pairs_default_to_the_first_language_with_each_other_one(tmp_path):
    from unmt.config import directions, load_recipe

    recipe = tmp_path / "r.yaml"
    recipe.write_text("preset: tiny\nname: t\nlangs: [en, fr, zh]\ncorpus: corpora/libreoffice-5\n"
                      "dictionary_test: corpora/libreoffice-5/dict.{pair}.test.txt\n")
    cfg = load_recipe(recipe)
    assert cfg.pairs == ["en-fr", "en-zh"]
    assert directions(cfg) == [("en", "fr"), ("fr", "en"), ("en", "zh"), ("zh", "en")]
    assert "pairs:\n- en-fr\n- en-zh" in unmt("run", recipe, "--dump-config").stdout


def test_back_translation_partners_take_turns_or_all_train_and_a_helper_language_has_none():
    from argparse import Namespace

    from unmt.plugin.unmt_backtranslation import UnmtBacktranslationTask

    task = object.__new__(UnmtBacktranslationTask)  # only the partner table: no data, no model
    task.bt_partners = {"en": ["fr", "zh"], "fr": ["en"], "zh": ["en"]}
    task.args = Namespace(bt_all_partners=False)
    assert [task.bt_targets("en", n) for n in range(4)] == [["fr"], ["zh"], ["fr"], ["zh"]]
    assert all(task.bt_targets("zh", n) == ["en"] for n in range(4))
    assert task.bt_targets("de", 0) == []  # denoised, never back-translated
    task.args = Namespace(bt_all_partners=True)  # equal per-direction compute: every partner, every update
    assert all(task.bt_targets("en", n) == ["fr", "zh"] for n in range(4)) and task.bt_targets("fr", 3) == ["en"]


def test_language_sampling_follows_the_temperature_formula_on_a_fixed_schedule():
    from argparse import Namespace

    from unmt.plugin.unmt_backtranslation import UnmtBacktranslationTask, language_rates

    sizes = {"en": 16000, "gl": 2000, "pt": 8000}
    assert language_rates(sizes, 0) == {"en": 1.0, "gl": 1.0, "pt": 1.0}  # off: every language every update
    assert language_rates(sizes, 1) == {"en": 1.0, "gl": 0.125, "pt": 0.5}
    assert abs(language_rates(sizes, 2)["gl"] - (2000 / 16000) ** 0.5) < 1e-12
    task = object.__new__(UnmtBacktranslationTask)
    task.mono_langs, task.args, task._rates = list(sizes), Namespace(), language_rates(sizes, 2)
    for lang, rate in task._rates.items():  # the schedule trains language l at floor(N r) or floor(N r)+1 updates
        for start, n in ((0, 1000), (537, 333)):  # from any update: a resumed run keeps the shares
            trained = sum(task.language_trains_at(lang, u) for u in range(start, start + n))
            assert int(n * rate) <= trained <= int(n * rate) + 1, (lang, start, trained)


def test_a_pair_without_a_test_dictionary_says_p_at_1_is_not_available(tmp_path):
    import numpy as np

    from unmt.align import align_embeddings
    from unmt.config import AlignConfig
    from unmt.layout import RunLayout

    rng = np.random.default_rng(0)
    emb = {l: ([f"w{i}" for i in range(300)], rng.normal(size=(300, 8)).astype(np.float32)) for l in ("a", "b", "c")}
    (tmp_path / "d.a-b.test.txt").write_text("".join(f"w{i} w{i}\n" for i in range(50)))
    res = align_embeddings(emb, [("a", "b"), ("a", "c")], {("a", "b"): tmp_path / "d.a-b.test.txt",
                                                           ("a", "c"): tmp_path / "d.a-c.test.txt"},
                           AlignConfig(methods=["identical"], max_rank=300, max_rank_ratio=None, iterations=1), 1,
                           RunLayout(tmp_path), "align")
    assert set(res) == {"a-b", "b-a", "a-c", "c-a"}
    full = json.loads((tmp_path / "align/results.json").read_text())
    assert "p@1" in full["a-b"]["methods"]["identical"]
    assert "p@1" not in full["a-c"]["methods"]["identical"] and "not available" in full["a-c"]["p@1"]
    assert full["a-b"]["spelled_alike"]["test_words"] == 50 and "spelled_alike" not in full["a-c"]
    assert "a-c: P@1 not available: no test dictionary for a-c" in (tmp_path / "align/results.md").read_text()
    assert (tmp_path / "align/lexicon.c-a.txt").exists() and (tmp_path / "align/mapping.a-c.npy").exists()


@pytest.fixture(scope="module")
def tiny_multilingual(tmp_path_factory):
    return run_recipe(tmp_path_factory, "tiny-multilingual")


def test_tiny_multilingual_recipe_trains_every_pair_in_one_model(tiny_multilingual):
    run = tiny_multilingual
    want = {"en-fr", "fr-en", "en-zh", "zh-en"}
    # one SentencePiece model, one dictionary with every language's tag, one pretrained LM
    tags = [l.split()[0] for l in (run / "prepare/bin/dict.txt").read_text(encoding="utf-8").splitlines()[-3:]]
    assert tags == ["__en__", "__fr__", "__zh__"]
    assert set(json.loads((run / "align/results.json").read_text())) == want
    assert set(json.loads((run / "mine/results.json").read_text())) == {"en-fr", "en-zh"}
    assert (run / "mine/mined.en-zh.tsv").exists() and (run / "mine/mined.en-fr.tsv").exists()
    # the one train stage saw every direction's warm-start and mined binaries and validated every direction
    for d in want:
        s, t = d.split("-")
        assert (run / f"train/warm/train.{t}-{s}.{s}.bin").exists() and (run / f"train/mined/train.{d}.{t}.bin").exists()
    command = (run / "train/command.txt").read_text()
    assert "--bt-pairs en-fr,en-zh" in command and "--mono-langs en,fr,zh" in command
    log = (run / "train/train.log").read_text()
    assert all(f"valid_bleu_{d}" in log for d in want)
    ev = json.loads((run / "evaluate/results.json").read_text())
    assert set(ev["directions"]) == want
    assert all({"unmt", "copy", "word-by-word", "supervised"} <= set(s) for s in ev["directions"].values())
    # the ceiling trained on the true pairs only: its log has mined-pair (parallel) losses and no BT or denoising
    sup_log = (run / "supervised/train.log").read_text()
    assert "mined_loss" in sup_log and "bt_loss" not in sup_log and "dae_loss" not in sup_log
    assert "Share of its gain over the better baseline that unmt recovers: en-fr" in (run / "evaluate/results.md").read_text()
    # compress: each language alone, each pair jointly, all jointly; per-pair saving beside BLEU, as a PNG
    comp = json.loads((run / "compress/results.json").read_text())
    assert set(comp["curves"]) == {"en", "fr", "zh", "en+fr", "en+zh", "joint"}
    assert set(comp["code_length"]["pairs"]) == {"en-fr", "en-zh"} and "K(en,fr,zh)" in comp["code_length"]
    assert {p["pair"] for p in comp["saving_vs_bleu"]} == {"en-fr", "en-zh"}
    assert set(comp["conditional"]) >= {"K(fr|en)", "K(en|fr)", "K(zh|en)", "K(en|zh)"}
    assert (run / "compress/saving_vs_bleu.png").read_bytes()[:4] == b"\x89PNG"

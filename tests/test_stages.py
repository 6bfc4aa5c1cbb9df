"""Every stage for real on the tiny recipe: SentencePiece, fairseq binaries and training, faiss, sacrebleu."""
import json
import shlex
import subprocess
import sys

import pytest
import sentencepiece as spm

from conftest import ROOT, unmt
from unmt.errors import UnmtError


def test_sentencepiece_round_trips_text(tiny_run):
    sp = spm.SentencePieceProcessor(model_file=str(tiny_run / "prepare/spm.model"))
    lines = (tiny_run / "prepare/text/test.fr").read_text(encoding="utf-8").splitlines()[:50]
    known = [l for l in lines if all(sp.piece_to_id(p) != sp.unk_id() for p in sp.encode(l, out_type=str))]
    assert known
    for line in known:
        assert sp.decode(sp.encode(line)) == line


def test_binaries_load_in_fairseq(tiny_run):
    from fairseq.data import Dictionary, data_utils

    d = Dictionary.load(str(tiny_run / "prepare/bin/dict.txt"))
    assert d.index("__en__") != d.unk() and d.index("__fr__") != d.unk() and d.index("<mask>") != d.unk()
    for lang in ("en", "fr"):
        ds = data_utils.load_indexed_dataset(str(tiny_run / f"prepare/bin/{lang}/train"), d, "mmap")
        n_lines = len((tiny_run / f"prepare/text/train.{lang}").read_text(encoding="utf-8").splitlines())
        assert len(ds) == n_lines
        assert int(ds[0][-1]) == d.eos()
    valid = data_utils.load_indexed_dataset(str(tiny_run / "prepare/bin/valid.en-fr.fr"), d, "mmap")
    assert len(valid) == len((tiny_run / "prepare/text/dev.fr").read_text(encoding="utf-8").splitlines())


def _losses(log):
    """Training losses from fairseq's JSON log lines (train_inner every --log-interval, train per epoch)."""
    out = []
    for line in log.splitlines():
        parts = line.split(" | ", 3)
        if len(parts) == 4 and parts[2] in ("train_inner", "train") and parts[3].startswith("{"):
            rec = json.loads(parts[3])
            out.append(float(rec.get("loss", rec.get("train_loss"))))
    return out


def test_pretraining_lowers_the_loss(tiny_run, tmp_path):
    # continue the tiny pretraining for a few more updates on the same data: loss must fall
    log = (tiny_run / "pretrain/train.log").read_text()
    first = _losses(log)[-1]
    r = unmt("run", "recipes/tests/tiny.yaml", "--run-dir", tiny_run, "--quiet")  # everything up to date: no work
    assert "[pretrain] up to date" in r.stdout
    cmd = shlex.split((tiny_run / "pretrain/command.txt").read_text())
    save = tmp_path / "more"
    cmd[cmd.index("--save-dir") + 1] = str(save)
    cmd[cmd.index("--lr") + 1] = "0.003"
    cmd += ["--restore-file", str(tiny_run / "pretrain/checkpoint_last.pt"), "--reset-optimizer",
            "--reset-lr-scheduler", "--reset-meters", "--reset-dataloader", "--log-interval", "5",
            "--max-update", "40"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout[-2000:]
    losses = _losses(out.stdout + out.stderr)
    assert losses and losses[-1] < first, (first, losses)


def test_backtranslation_stage_ran_all_objectives(tiny_run):
    log = (tiny_run / "train/train.log").read_text()
    summary = [l for l in log.splitlines() if " | train | {" in l][-1]
    for key in ("bt_loss", "dae_loss", "warm_loss"):
        assert key in summary, summary
    assert "restore" in (tiny_run / "train/command.txt").read_text()  # initialised from the pretrained LM


def test_translated_lines_leave_out_references_that_are_their_source_again():
    """16% of the en-es help test set is English in both columns: copying wins those lines outright, so
    the evaluation also scores the lines whose reference was translated."""
    from eval.scoring import score_translated_lines, score_translations, translated_lines

    src = ["Click OK to close the dialog.", "Insert  Table", "The cell range is selected.", "LibreOffice Calc"]
    ref = ["Cliquez sur OK pour fermer la boîte.", "Insert Table", "La plage de cellules est sélectionnée.",
           "LibreOffice Calc"]
    keep = translated_lines(src, ref)
    assert keep == [0, 2]  # spacing alone does not make a line translated
    copy_all, copy_kept = score_translations(src, ref, "fr"), score_translated_lines(src, ref, keep, "fr")
    assert copy_kept["sentences"] == 2 and copy_kept["bleu"] < copy_all["bleu"] and copy_kept["chrf"] < copy_all["chrf"]
    assert score_translated_lines(ref, ref, keep, "fr")["bleu"] == 100.0


def test_rescoring_saved_hypotheses_gives_the_evaluate_stages_translated_lines(tiny_run, tmp_path):
    from eval.translated_lines import rescore

    res = json.loads((tiny_run / "evaluate/results.json").read_text())
    rows = rescore(tiny_run)
    assert [r.split(" | ")[1] for r in rows] == ["en→fr", "fr→en"]
    for row in rows:
        d = row.split(" | ")[1].replace("→", "-")
        want = [res["directions"][d][x]["translated_lines"]["bleu"] for x in ("unmt", "copy", "word-by-word")]
        assert [float(x) for x in row.rstrip(" |").split(" | ")[3:]] == want
    with pytest.raises(UnmtError, match="no test hypotheses"):
        rescore(tmp_path)


def test_results_table_has_every_system(tiny_run):
    res = json.loads((tiny_run / "evaluate/results.json").read_text())
    for d in ("en-fr", "fr-en"):
        systems = res["directions"][d]
        assert set(systems) == {"unmt", "copy", "word-by-word"}
        for s in systems.values():
            assert "nrefs:1" in s["bleu_signature"] and "nc:6" in s["chrf_signature"]
            assert 0 <= s["bleu"] <= 100 and 0 <= s["chrf"] <= 100
    assert set(res["lexicon_p@1"]) == {"en-fr", "fr-en"}
    md = (tiny_run / "evaluate/results.md").read_text()
    assert "| en-fr | copy |" in md and "tok-BLEU" in md and "translated lines" in md
    kept = res["directions"]["en-fr"]["copy"]["translated_lines"]
    assert 0 < kept["sentences"] <= res["test_sentences"] and 0 <= kept["bleu"] <= 100
    assert res["decoding"]["lenpen"] == 1.0 and f"beam {res['decoding']['beam']}, length penalty 1 " in md
    manifest = json.loads((tiny_run / "manifest.json").read_text())
    assert list(manifest["stages"])[:8] == ["prepare", "pretrain", "align", "mine", "train", "evaluate", "lms", "compress"]
    assert all(v["inputs"] and v["versions"]["fairseq-fixed"] and v["machine"]["cores"] >= 1 for v in manifest["stages"].values())
    # the fairseq stages ran their whole update budget (the safety net did not cut them)
    for stage, updates in (("pretrain", 12), ("train", 6)):
        assert manifest["stages"][stage]["result"]["updates"] == updates
        assert manifest["stages"][stage]["result"]["stopped_by"] == "max_update"
    assert (tiny_run / "align/lexicon_curve.png").read_bytes()[:4] == b"\x89PNG"


def test_mine_stage_writes_pairs_and_planted_scores(tiny_run):
    rows = [l.split("\t") for l in (tiny_run / "mine/mined.en-fr.tsv").read_text(encoding="utf-8").splitlines()]
    assert rows and all(len(r) == 3 and r[1] != r[2] for r in rows)
    res = json.loads((tiny_run / "mine/results.json").read_text())["en-fr"]  # one record per pair
    assert res["mined"] == len(rows)
    pl = res["planted"]
    assert pl["planted_pairs"] == 60 and 0 <= pl["correct"] <= pl["mined"]
    assert pl["precision"] == round(100 * pl["correct"] / pl["mined"], 2)
    # the mined pairs reached fairseq as warm-start data in both directions
    assert (tiny_run / "train/mined/train.en-fr.en.bin").exists() and (tiny_run / "train/mined/train.fr-en.fr.bin").exists()
    assert "mined_loss" in (tiny_run / "train/train.log").read_text()


def test_changed_config_reruns_only_that_stage(tiny_run, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text((ROOT / "recipes/tests/tiny.yaml").read_text() + "evaluate: {max_lines: 20, beam: 2, lenpen: 2.5, no_repeat_ngram: 2}\n")
    r = unmt("run", recipe, "--run-dir", tiny_run, "--quiet")
    assert "[train] up to date" in r.stdout and "[evaluate] running" in r.stdout
    # compress reports the new BLEU beside the code lengths without retraining its LMs
    assert "[lms] up to date" in r.stdout and "[compress] running" in r.stdout
    res = json.loads((tiny_run / "evaluate/results.json").read_text())
    assert res["test_sentences"] == 20 and res["decoding"] == {"beam": 2, "lenpen": 2.5, "no_repeat_ngram": 2}
    assert "no 2-gram of pieces twice" in (tiny_run / "evaluate/results.md").read_text()
    from unmt.layout import RunLayout
    from unmt.translate import Translator

    tr = Translator(tiny_run / "train/checkpoint_last.pt", RunLayout(tiny_run), beam=2, lenpen=2.5, no_repeat_ngram=2)
    assert tr.generator.beam_size == 2 and tr.generator.len_penalty == 2.5  # what evaluate decodes with
    assert tr.generator.repeat_ngram_blocker.n == 2
    other = tr.decoding(4, 1.5)  # eval.lenpen's sweep: the same model, its own generator
    assert other.model is tr.model and (other.generator.beam_size, other.generator.len_penalty) == (4, 1.5)
    assert tr.generator.len_penalty == 2.5 and other.generator.repeat_ngram_blocker.n == 2
    assert tr.decoding(4, 1.5, 0).generator.repeat_ngram_blocker is None


def test_no_repeat_ngram_leaves_no_piece_bigram_twice_in_an_output(tiny_run):
    # fairseq's own blocker never blocks on CPU (fairseq issue #5206); the generator's must
    from unmt.io import read_lines
    from unmt.layout import RunLayout
    from unmt.translate import Translator

    layout = RunLayout(tiny_run)
    lines = read_lines(layout.text("test", "en"), "test set")[:40]
    tr = Translator(tiny_run / "train/checkpoint_last.pt", layout, beam=2)

    def repeated_bigrams(translator):
        repeats = 0
        for _, tokens, lengths in translator.batches(lines, "en"):
            sample = {"net_input": {"src_tokens": tokens, "src_lengths": lengths}}
            for hypos in translator.generator.generate([translator.model], sample, bos_token=translator.check_lang("fr")):
                out = hypos[0]["tokens"].tolist()
                repeats += len(out) - 1 - len(set(zip(out, out[1:])))
        return repeats

    assert repeated_bigrams(tr) > 0  # the tiny model loops, so blocking has something to remove
    assert repeated_bigrams(tr.decoding(2, 1.0, 2)) == 0


def test_lenpen_sweep_with_vocab_ratios_keeps_english_words_out_of_french(tiny_run, tmp_path):
    r = subprocess.run([sys.executable, "-m", "eval.lenpen", str(tiny_run), "en-fr", "--values", "1", "--beam", "2",
                        "--vocab-ratios", "0,0.1", "--no-repeat", "0,2", "--lines", "10", "--out", str(tmp_path)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = json.loads((tmp_path / "lenpen.json").read_text())["rows"]
    assert [(row["direction"], row["vocab_ratio"], row["no_repeat_ngram"]) for row in rows] == \
        [("en-fr", 0.0, 0), ("en-fr", 0.0, 2), ("en-fr", 0.1, 0), ("en-fr", 0.1, 2)]
    table = (tmp_path / "lenpen.md").read_text()
    assert "| vocab ratio | no repeat n-gram |" in table and "| en-fr | 0.1 | 2 | 1 |" in table
    bad = subprocess.run([sys.executable, "-m", "eval.lenpen", str(tiny_run), "en-fr", "--no-repeat", "0,1.5"],
                         capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "--no-repeat" in bad.stderr and "whole numbers" in bad.stderr
    from eval.lenpen import set_vocab_ratio
    from unmt.layout import RunLayout
    from unmt.prepare import lang_token
    from unmt.translate import Translator

    tr = Translator(tiny_run / "train/checkpoint_last.pt", RunLayout(tiny_run))
    set_vocab_ratio(tr, 0.1)
    search = tr.generator.search
    allowed = lambda lang, piece: bool(search.rows[search.row_of[tr.dict.index(lang_token(lang))]][tr.dict.index(piece)] == 0)  # noqa: E731
    assert allowed("en", "\u2581the") and not allowed("fr", "\u2581the")
    assert allowed("fr", "\u2581la") and not allowed("en", "\u2581la")  # 1/16 as frequent in the tiny English text


def test_translate_cli_from_stdin_and_file(tiny_run, tmp_path):
    r = unmt("translate", "--run-dir", tiny_run, "--src", "en", "--tgt", "fr", input="Open a file.\nSave it.\n")
    assert len(r.stdout.splitlines()) == 2
    src = tmp_path / "in.fr"
    src.write_text("Ouvrir un fichier.\n", encoding="utf-8")
    out = tmp_path / "out.en"
    unmt("translate", "--run-dir", tiny_run, "--src", "fr", "--tgt", "en", "-i", src, "-o", out)
    assert len(out.read_text(encoding="utf-8").splitlines()) == 1


def test_semisupervised_translation_fixed_trains_where_upstream_crashes(tiny_run, tmp_path):
    """fairseq#3640: upstream's train_step raises KeyError('loss'); our registered subclass trains."""
    import shutil

    data = tmp_path / "data"
    data.mkdir()
    warm = tiny_run / "train/warm"
    for f in warm.glob("train.en-fr.*"):
        shutil.copy(f, data / f.name)
    for f in (tiny_run / "prepare/bin").glob("valid.en-fr.*"):
        shutil.copy(f, data / f.name)
    for lang in ("en", "fr"):
        shutil.copy(tiny_run / "prepare/bin/dict.txt", data / f"dict.{lang}.txt")

    def train(task):
        cmd = [sys.executable, "-m", "fairseq_cli.train", str(data), "--user-dir", str(ROOT / "unmt/plugin"),
               "--task", task, "--lang-pairs", "en-fr", "--arch", "multilingual_transformer",
               "--encoder-layers", "1", "--decoder-layers", "1", "--encoder-embed-dim", "32",
               "--decoder-embed-dim", "32", "--encoder-ffn-embed-dim", "64", "--decoder-ffn-embed-dim", "64",
               "--encoder-attention-heads", "2", "--decoder-attention-heads", "2", "--optimizer", "adam",
               "--lr", "1e-3", "--max-tokens", "500", "--max-update", "3", "--disable-validation",
               "--save-dir", str(tmp_path / task), "--no-save", "--num-workers", "0", "--log-format", "simple",
               "--lambda-parallel-config", "1.0"]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)

    upstream = train("semisupervised_translation")
    assert upstream.returncode != 0 and "KeyError: 'loss'" in upstream.stdout + upstream.stderr
    fixed = train("semisupervised_translation_fixed")
    assert fixed.returncode == 0, fixed.stdout[-2000:] + fixed.stderr[-2000:]
    assert "done training" in fixed.stdout + fixed.stderr


def test_mine_cli_writes_scored_tsv(tiny_run, tmp_path):
    out = tmp_path / "mined.tsv"
    r = unmt("mine-files", "--run-dir", tiny_run, "--src", "en", "--tgt", "fr", "--out", out, "--threshold", "0")
    rows = [l.split("\t") for l in out.read_text(encoding="utf-8").splitlines()]
    assert rows and all(len(r) == 3 for r in rows)
    scores = [float(r[0]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert len({r[1] for r in rows}) == len(rows)  # one pair per source sentence
    assert f"mined {len(rows)} pairs" in r.stdout


def test_mine_cli_rejects_empty_pool(tiny_run, tmp_path):
    empty = tmp_path / "empty.fr"
    empty.write_text("")
    r = unmt("mine-files", "--run-dir", tiny_run, "--src", "en", "--tgt", "fr", "--tgt-file", empty,
             "--out", tmp_path / "x.tsv", check=False)
    assert r.returncode == 2 and "empty" in r.stderr and str(empty) in r.stderr


def test_stage_killed_after_its_last_checkpoint_resumes_without_training_more(tiny_run, tmp_path):
    """Killed after fairseq saved the final checkpoint_last.pt but before the manifest record: the rerun
    resumes the stage, trains no extra update, and every later stage comes out identical."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    manifest = json.loads((run / "manifest.json").read_text())
    for stage in ("pretrain", "align", "mine", "train", "evaluate", "lms", "compress"):
        manifest["stages"].pop(stage)  # as if the run died right after pretraining's last save
    (run / "manifest.json").write_text(json.dumps(manifest))
    before = {p: (run / p).read_bytes() for p in ("pretrain/checkpoint_last.pt", "pretrain/train.log",
                                                   "train/checkpoint_last.pt", "train/train.log")}
    r = unmt("run", "recipes/tests/tiny.yaml", "--run-dir", run, "--quiet")
    assert "[pretrain] resuming" in r.stdout and "[train] resuming" in r.stdout and "[prepare] up to date" in r.stdout
    for p, content in before.items():
        assert (run / p).read_bytes() == content, p
    code = lambda d: json.loads((d / "compress/results.json").read_text())["code_length"]  # noqa: E731
    assert code(run) == code(tiny_run)


def test_a_stage_folder_deleted_by_hand_is_rebuilt(tiny_run, tmp_path):
    """The manifest still records the stage, its folder is gone: the stage runs again (it used to stop on
    removing the folder that was no longer there)."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    shutil.rmtree(run / "align")
    r = unmt("align", "recipes/tests/tiny.yaml", "--run-dir", run)
    assert "[align] running" in r.stdout and (run / "align/results.json").is_file()
    assert (run / "align/lexicon.en-fr.txt").read_bytes() == (tiny_run / "align/lexicon.en-fr.txt").read_bytes()
    # a finished fairseq stage, forced: its folder is wiped, so it says it runs, not that it resumes
    r = unmt("pretrain", "recipes/tests/tiny.yaml", "--run-dir", run, "--force")
    assert "[pretrain] running (forced)" in r.stdout, r.stdout


def test_align_from_the_lm_embedding_table(tiny_run, tmp_path):
    from unmt.align import word_vectors_from_embeddings
    from unmt.layout import RunLayout
    from unmt.translate import Translator

    tr = Translator(tiny_run / "pretrain/checkpoint_last.pt", RunLayout(tiny_run))
    lines = (tiny_run / "prepare/text/train.en").read_text(encoding="utf-8").splitlines()
    words, V = word_vectors_from_embeddings(tr, lines, "en", max_words=200)
    table = tr.model.encoder.embed_tokens.weight.detach().numpy()
    assert len(words) == len(V) and V.shape[1] == table.shape[1]
    pieces = [tr.dict.index(p) for p in tr.sp.encode(words[0], out_type=str)]
    assert abs(V[0] - table[pieces].mean(0)).max() < 1e-5


def test_report_writes_sections_then_readme_tables_from_them(tiny_run, tmp_path, monkeypatch):
    """eval.report: every run gets a docs/results.md section with the baseline verdict computed from its
    JSON; the README's tables are written from those sections -- every run at a glance, and the default
    recipe's table once a run named default is reported."""
    import shutil

    from eval import report

    monkeypatch.chdir(tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- default:start -->\nold\n<!-- default:end -->\n"
                      "<!-- glance:start -->\nold\n<!-- glance:end -->\nend\n")
    other = tmp_path / "runs/en-xx"
    shutil.copytree(tiny_run, other)
    report.main(str(other), readme=str(readme), results_md="results.md")
    text = readme.read_text()
    assert "## en-xx" in (tmp_path / "results.md").read_text() and "old" not in text
    assert "[en-xx](docs/results.md#en-xx)" in text and "No run of the default recipe" in text
    default = tmp_path / "runs/default"
    shutil.copytree(tiny_run, default)
    report.main(str(default), readme=str(readme), results_md="results.md")
    text, results = readme.read_text(), json.loads((default / "evaluate/results.json").read_text())
    assert text.startswith("intro\n") and text.endswith("end\n") and "No run of the default recipe" not in text
    unmt_en_fr = results["directions"]["en-fr"]["unmt"]
    assert f"| en→fr | unmt | {unmt_en_fr['bleu']:.2f} / {unmt_en_fr['chrf']:.2f} |" in text
    margins = {m: {d: s["unmt"][m] - max(s["copy"][m], s["word-by-word"][m]) for d, s in results["directions"].items()}
               for m in ("bleu", "chrf")}
    verdict = {m: "yes" if all(v > 0 for v in margins[m].values()) else "no" for m in margins}
    sections = (tmp_path / "results.md").read_text()
    assert f"Beats both baselines in every direction: in BLEU {verdict['bleu']}, in chrF {verdict['chrf']}" in sections
    assert f"en-fr {margins['bleu']['en-fr']:+.2f}" in sections and f"en-fr {margins['chrf']['en-fr']:+.2f}" in sections
    assert "## en-xx" in sections and "## default" in sections  # the other run's section is kept


def test_sharing_summary_says_which_output_is_in_the_target_language(tmp_path):
    """eval.report's sharing table: per direction, the multilingual run beside the pair alone, and how much
    of each one's output langid.py puts in the target language (read from the hypothesis files)."""
    from eval.report import sharing_summary

    french = ["Choisissez Format - Cellules pour ouvrir la boîte de dialogue.", "Cliquez sur le bouton Suivant."]
    english = ["Choose Format - Cells to open the dialog.", "Click the Next button."]

    def run(name, langs, hyp, bleu, ceiling=None):
        d = tmp_path / name
        (d / "evaluate").mkdir(parents=True)
        tests = {f"corpus:test.{l}": f"sha-{l}" for l in langs}
        (d / "manifest.json").write_text(json.dumps({"stages": {"prepare": {"config": {"langs": langs}, "inputs": tests}}}))
        scores = {"unmt": {"bleu": bleu, "chrf": 10 * bleu}, "copy": {"bleu": 1.0, "chrf": 20.0}}
        if ceiling:
            scores["supervised"] = {"bleu": ceiling, "chrf": 10 * ceiling}
        (d / "evaluate/results.json").write_text(json.dumps({"directions": {"en-fr": scores}}))
        (d / "evaluate/test.en-fr.hyp.fr").write_text("\n".join(hyp) + "\n")
        return d

    multi = run("multi", ["en", "fr", "de"], french, 3.0, ceiling=9.5)
    alone = run("alone", ["en", "fr"], english, 2.0)   # copies its English input
    table = sharing_summary(multi, [alone])
    assert "| en-fr | 3.0 | 2.0 | 30.0 | 20.0 | 1.0 / 20.0 | 100.0 / 0.0 | 9.5 / - | - / - | helps |" in table
    assert "did not record examples per direction" in table


def test_sharing_summary_states_the_comparison_from_the_examples_each_direction_trained_on(tmp_path):
    """A shared run and its bilingual run: the table header says equal per-direction compute only when every
    direction trained on as many examples (within 5%), and equal total updates otherwise."""
    from eval.report import sharing_summary

    def run(name, langs, examples):
        d = tmp_path / name
        (d / "evaluate").mkdir(parents=True)
        tests = {f"corpus:test.{l}": f"sha-{l}" for l in langs}
        train = {"result": {"examples_per_direction": {"updates": 100, "examples": examples}}}
        (d / "manifest.json").write_text(json.dumps({"stages": {"prepare": {"config": {"langs": langs}, "inputs": tests},
                                                                "train": train}}))
        scores = {"unmt": {"bleu": 2.0, "chrf": 20.0}, "copy": {"bleu": 1.0, "chrf": 20.0}}
        (d / "evaluate/results.json").write_text(json.dumps({"directions": {"en-fr": scores, "fr-en": scores}}))
        return d

    alone = run("alone", ["en", "fr"], {"en-fr": {"bt": 800, "warm": 200}, "fr-en": {"bt": 800, "warm": 200},
                                        "en-en": {"dae": 800}})
    equal = run("equal", ["en", "fr", "de"], {"en-fr": {"bt": 800, "warm": 220}, "fr-en": {"bt": 800, "warm": 200},
                                              "en-de": {"bt": 800}, "en-en": {"dae": 800}})
    rotated = run("rotated", ["en", "fr", "de"], {"en-fr": {"bt": 800, "warm": 200}, "fr-en": {"bt": 400, "warm": 200},
                                                  "en-de": {"bt": 800}})
    table = sharing_summary(equal, [alone])
    assert "**equal per-direction compute**" in table and "(1.00-1.02 times)" in table
    assert "| en-fr | 2.0 | 2.0 | 20.0 | 20.0 | 1.0 / 20.0 | n/a / n/a | - / - | 1020 / 1000 | mixed |" in table
    table = sharing_summary(rotated, [alone])
    assert "**equal total updates**" in table and "0.60-1.00 times" in table and "per-direction compute**" not in table


def test_sharing_over_seeds_gives_the_gain_with_a_welch_interval_and_says_when_it_spans_zero(tmp_path):
    """eval.report on three seeds of a shared setting and three of its bilingual one: the rare pair's gain per
    direction with a 95% interval (Welch's t over seeds), whether each beats both baselines, the comparison."""
    from scipy import stats

    from eval.report import gain_interval, seed_summaries

    def run(name, langs, bleu):
        d = tmp_path / name
        (d / "evaluate").mkdir(parents=True)
        tests = {f"corpus:test.{l}": f"sha-{l}" for l in langs}
        ex = {"en-gl": {"bt": 800}, "gl-en": {"bt": 800}}
        (d / "manifest.json").write_text(json.dumps({"stages": {
            "prepare": {"config": {"langs": langs}, "inputs": tests},
            "train": {"result": {"examples_per_direction": {"updates": 100, "examples": ex}}}}}))
        scores = lambda b: {"unmt": {"bleu": b, "chrf": 10 * b}, "copy": {"bleu": 3.0, "chrf": 30.0},  # noqa: E731
                            "word-by-word": {"bleu": 4.0, "chrf": 35.0}}
        (d / "evaluate/results.json").write_text(json.dumps({"directions": {"en-gl": scores(bleu), "gl-en": scores(bleu)}}))
        return str(d)

    alone = [run(f"gl-alone-s{i}", ["en", "gl"], b) for i, b in enumerate((2.0, 2.2, 1.8), 1)]
    shared = [run(f"gl-shared-s{i}", ["en", "gl", "es", "pt"], b) for i, b in enumerate((5.0, 5.4, 4.6), 1)]
    gain, lo, hi = gain_interval([5.0, 5.4, 4.6], [2.0, 2.2, 1.8])
    se = (0.4 ** 2 / 3 + 0.2 ** 2 / 3) ** 0.5   # the sample sds are 0.4 and 0.2
    df = (0.4 ** 2 / 3 + 0.2 ** 2 / 3) ** 2 / ((0.4 ** 2 / 3) ** 2 / 2 + (0.2 ** 2 / 3) ** 2 / 2)
    assert gain == 3.0 and abs(hi - gain - stats.t.ppf(0.975, df) * se) < 0.01 and lo > 0
    noisy = gain_interval([2.5, 1.0, 3.1], [2.0, 2.6, 1.7])
    assert noisy[1] < 0 < noisy[2]
    pending = tmp_path / "gl-alone-s4"  # a seed still running: no results yet, so neither counted nor named
    pending.mkdir()
    (pending / "manifest.json").write_text(json.dumps({"stages": {
        "prepare": {"config": {"langs": ["en", "gl"]}, "inputs": {f"corpus:test.{l}": f"sha-{l}" for l in ("en", "gl")}}}}))
    sections = seed_summaries(alone + [str(pending)] + shared)  # what `python -m eval.report RUN...` adds to docs/results.md
    assert list(sections) == ["sharing over seeds: gl-shared vs gl-alone"]
    text = sections["sharing over seeds: gl-shared vs gl-alone"]
    assert "**equal per-direction compute**" in text and "3 and 3 seeds" in text
    assert "`gl-alone-s3` (alone)" in text and "gl-alone-s4" not in text
    assert f"| en-gl | BLEU | 2.00 | 5.00 | +3.00 [{lo:+.2f}, {hi:+.2f}] | 0/3 / 3/3 |" in text


def test_report_on_a_sweep_folder_reads_its_records_and_compares_runs_of_one_model_seed_and_decoding(tmp_path):
    """`python -m eval.report SWEEP_DIR` in a checkout where the run folders are gone: every section comes
    from the sweep's records; a shared run is set beside the pairs alone of its own seed, model and decoding only; the
    README's sharing lines say whether each target is met, from those sections."""
    from eval import report

    sweep = tmp_path / "sw"
    (sweep / "records").mkdir(parents=True)
    (sweep / "sweep.yaml").write_text("name: sw\nrecipe: r.yaml\npoints:\n  - {name: x-alone}\n  - {name: x-shared}\n"
                                      "  - {name: y-alone}\n  - {name: x-alone-wide}\n  - {name: x-alone-block2}\n  - {name: x-shared-block2}\n"
                                      "  - {name: y-alone-block2}\n")
    base = {"copy": {"bleu": 3.0, "chrf": 30.0}, "word-by-word": {"bleu": 4.0, "chrf": 35.0}}

    def record(name, langs, seed, bleu, dim=256, block=None):
        tests = {f"corpus:test.{l}": f"sha-{l}" for l in langs}
        directions = {f"{a}-{b}": {"unmt": {"bleu": bleu[f"{a}-{b}"], "chrf": 10 * bleu[f"{a}-{b}"]}, **base}
                      for a, b in (p.split("-") for p in bleu)}
        if name.startswith("x-"):  # evaluated with the translated-lines scores; y-alone-s1 before them
            directions = {d: {k: v | {"translated_lines": {"bleu": v["bleu"] - 1, "chrf": 0.0, "sentences": 9}}
                              for k, v in systems.items()} for d, systems in directions.items()}
        train = {"config": {"model": {"dim": dim}, "seed": seed}, "seconds": 600,
                 "result": {"examples_per_direction": {"updates": 100, "examples": {d: {"bt": 800} for d in bleu}}}}
        lines = {"en": 8000, "gl": 2000, "es": 9000}  # gl capped: the rare language
        # block None: evaluated before evaluate.no_repeat_ngram existed, which decoded as 0 does
        decoding = {"beam": 4, "lenpen": 2.0} | ({} if block is None else {"no_repeat_ngram": block})
        manifest = {"stages": {"prepare": {"config": {"langs": langs}, "inputs": tests, "seconds": 0,
                                           "result": {f"train.{l}": lines[l] for l in langs}}, "train": train,
                               "evaluate": {"config": decoding, "seconds": 0}}}
        (sweep / "records" / f"{name}.json").write_text(json.dumps(
            {"run": name, "manifest": manifest, "evaluate": {"directions": directions}, "compress": None}))

    for seed, (alone, shared) in enumerate(((2.0, 7.0), (2.2, 7.4), (1.8, 6.6)), 1):
        record(f"x-alone-s{seed}", ["en", "gl"], seed, {"en-gl": alone, "gl-en": alone})
        record(f"x-shared-s{seed}", ["en", "gl", "es"], seed, {"en-gl": shared, "gl-en": shared, "en-es": 9.0, "es-en": 9.8})
    record("y-alone-s1", ["en", "es"], 1, {"en-es": 10.5, "es-en": 10.0}, block=0)
    # the same models decoded with n-gram blocking: set beside each other, never beside the runs without it
    record("x-alone-block2-s1", ["en", "gl"], 1, {"en-gl": 2.5, "gl-en": 2.5}, block=2)
    record("x-shared-block2-s1", ["en", "gl", "es"], 1, {"en-gl": 7.5, "gl-en": 7.5, "en-es": 9.0, "es-en": 9.9}, block=2)
    record("y-alone-block2-s1", ["en", "es"], 1, {"en-es": 10.2, "es-en": 10.1}, block=2)
    record("x-alone-wide-s1", ["en", "gl"], 1, {"en-gl": 1.0, "gl-en": 1.0}, dim=384)
    record("y-alone-s2", ["en", "es"], 2, {})  # a run that trained but was never evaluated
    record("y-alone-s3", ["en", "es"], 3, {"en-es": 10.1, "es-en": 10.2})
    # x-alone-s1's test translations kept beside its record: the share in the target language is measured
    # from them, among the shared run's languages, as it would be from its folder
    import shutil

    from unmt.sweep import write_outputs

    hyps = ["O gato está na casa.", "Non sei onde está o libro.", "The file is open."]
    folder = tmp_path / "x-alone-s1"
    (folder / "evaluate").mkdir(parents=True)
    (folder / "evaluate" / "test.en-gl.hyp.gl").write_text("\n".join(hyps) + "\n")
    write_outputs(folder, sweep / "records" / "x-alone-s1.outputs.tar.xz")
    shutil.rmtree(folder)
    assert not (sweep / "runs").exists()
    # cut by its max_minutes safety net before its update budget: the next sweep resumes it, no table counts it
    record("y-alone-s5", ["en", "es"], 5, {"en-es": 30.0, "es-en": 30.0})
    cut = json.loads((sweep / "records" / "y-alone-s5.json").read_text())
    cut["manifest"]["stages"]["train"]["result"] |= {"stopped_by": "time limit", "updates": 40}
    (sweep / "records" / "y-alone-s5.json").write_text(json.dumps(cut))
    (sweep / "runs" / "y-alone-s4").mkdir(parents=True)  # still training: a checkout has no trace of it
    # resumed after its cut: the folder keeps its old evaluate results while train runs again (no record)
    from unmt.layout import RunLayout

    again = RunLayout(sweep / "runs" / "y-alone-s5")
    for stage in ("train", "evaluate"):
        again.started(stage).parent.mkdir(parents=True)
        again.started(stage).write_text("{}")
    again.results("evaluate").write_text(json.dumps({"directions": {}}))
    again.manifest.write_text(json.dumps({"stages": {k: v for k, v in cut["manifest"]["stages"].items() if k != "train"}}))
    (sweep / "runs" / "y-alone-s4" / "manifest.json").write_text(json.dumps({"stages": {}}))
    readme = tmp_path / "README.md"
    readme.write_text("<!-- sharing:start -->\nold\n<!-- sharing:end -->\n")
    report.main(str(sweep), readme=str(readme), results_md=str(tmp_path / "results.md"))

    sections = report.read_sections(tmp_path / "results.md")
    assert list(sections) == ["sweep: sw"] + [f"sharing: x-shared-s{s} vs each pair alone" for s in (1, 2, 3)] + [
        "sharing: x-shared-block2-s1 vs each pair alone"] + [
        "sharing over seeds: x-shared vs x-alone", "sharing over seeds: x-shared vs y-alone", report.TARGETS]
    assert "Rare pair: en-gl (training lines en 8,000, gl 2,000; the shared run's largest side 9,000)." in \
        sections["sharing over seeds: x-shared vs x-alone"]
    assert "High-resource pair: en-es" in sections["sharing over seeds: x-shared vs y-alone"]
    table = sections["sweep: sw"]
    assert [r.split(" | ")[0][2:] for r in table.splitlines() if r.startswith("| x-") or r.startswith("| y-")] == [
        "x-alone-s1", "x-alone-s2", "x-alone-s3", "x-shared-s1", "x-shared-s2", "x-shared-s3", "y-alone-s1",
        "y-alone-s2", "y-alone-s3", "x-alone-wide-s1", "x-alone-block2-s1", "x-shared-block2-s1", "y-alone-block2-s1"]
    rows = [r for r in table.splitlines() if r.startswith("|")]
    assert {r.count("|") for r in rows} == {rows[0].count("|")}  # every row has the header's columns
    assert "| y-alone-s2 | not evaluated | | | | | | | 10.0 |" in table and "y-alone-s5" not in table
    assert "| x-alone-s1 | en→gl | 2.00 / 20.00 | 3.00 / 30.00 | 4.00 / 35.00 | no, no | 1.00 / 2.00 / 3.00 | 800 | 10.0 |" in table
    assert "| y-alone-s1 | en→es | 10.50 / 105.00 | 3.00 / 30.00 | 4.00 / 35.00 | yes, yes | - / - / - | 800 | 10.0 |" in table
    seeds = sections["sharing over seeds: x-shared vs x-alone"]
    assert "| en-gl | BLEU, translated lines | 1.00 | 6.00 | +5.00 [" in seeds and "| 0/3 / 3/3 |" in seeds
    first = sections["sharing: x-shared-s1 vs each pair alone"]
    assert "`x-alone-s1`, `y-alone-s1`" in first and "wide" not in first and "x-alone-s2" not in first
    assert "block2" not in first
    blocked = sections["sharing: x-shared-block2-s1 vs each pair alone"]
    assert "against each pair trained alone" in blocked and "`x-alone-block2-s1`" in blocked
    assert "`x-alone-s1`" not in blocked and "`y-alone-s1`" not in blocked and "`y-alone-block2-s1`" in blocked
    assert "| en-gl | 7.5 | 2.5 |" in blocked
    assert "**equal per-direction compute**" in first and "| en-es | 9.0 | 10.5 |" in first
    from eval.language_id import format_share, target_share

    share = format_share(target_share(hyps, "gl", ["en", "gl", "es"]))
    assert share != "n/a" and f"| en-gl | 7.0 | 2.0 | 70.0 | 20.0 | 4.0 / 35.0 | n/a / {share} |" in first
    text = readme.read_text()
    assert "old" not in text
    assert "- **x-shared against x-alone** (equal per-direction compute, 3 and 3 seeds): gain in BLEU en→gl +5.00" in text
    assert "gl→en 3/3 seeds. Target (+3 BLEU both ways, interval above zero, both baselines beaten): **met**." in text
    # every pair x-shared-s1 and -s3 compare has a line over seeds (below): they get no line of their own
    assert "**x-shared-s1 against each pair alone**" not in text and "**x-shared-s3 against each pair alone**" not in text
    assert "**x-shared-s2 against each pair alone**" not in text
    # one seed of the blocked runs: no line over seeds, so the run keeps its own line (with no target: which of
    # its pairs is the rare one, a line over seeds says)
    assert "**x-shared-block2-s1 against each pair alone** (equal per-direction compute): BLEU shared minus alone " \
           "en→gl +5.00, gl→en +5.00, en→es -1.20, es→en -0.20.\n" in text
    assert ("**Sweep sw**: 7 of 12 evaluated runs beat both baselines in BLEU and chrF in every direction: x-shared-s1, "
            "x-shared-s2, x-shared-s3, y-alone-s1, y-alone-s3, x-shared-block2-s1, y-alone-block2-s1.") in text
    # the high-resource pair over seeds (y-alone-s2 not evaluated: s1 and s3): its own target, and its directions
    # are not taken for the rare pair's in the per-seed lines
    assert ("- **x-shared against y-alone** (equal per-direction compute, 3 and 2 seeds): gain in BLEU en→es -1.30 ["
            in text and "Target (no direction loses over 1 BLEU, mean of seeds): **not met**." in text)
    # docs/results.md judges the targets too, in the README's words, beside the tables they come from
    targets = sections[report.TARGETS]
    assert "(+3 BLEU both ways, interval above zero, both baselines beaten): **met**." in targets
    assert "**not met**" in targets and "**Sweep sw**: 7 of 12" in targets and "Every table" not in targets


def test_report_sets_each_point_beside_its_control_from_a_checkout_of_records(tmp_path):
    """In a new checkout a sweep folder holds only its records (its sweep.yaml is not committed): the report
    reads the points from the sweep file beside it, and sets each point with a ``control:`` beside the
    control's run of the same seed, unmt and word-by-word each with its change; a run on other test sentences,
    or whose control has no run of its seed, is not compared."""
    from eval import report

    (tmp_path / "sweeps" / "sw" / "records").mkdir(parents=True)
    (tmp_path / "sweeps" / "sw.yaml").write_text(
        "name: sw\nrecipe: r.yaml\npoints:\n  - {name: zh-base, langs: [en, zh]}\n"
        "  - {name: zh-lex, langs: [en, zh], control: zh-base}\n  - {name: zh-other, langs: [en, zh], control: zh-base}\n")

    def record(name, unmt, wbw, test="sha", **adopted):
        directions = {d: {"unmt": {"bleu": unmt, "chrf": 10 * unmt}, "copy": {"bleu": 1.0, "chrf": 9.0},
                          "word-by-word": {"bleu": wbw, "chrf": 10 * wbw}} for d in ("en-zh", "zh-en")}
        manifest = {"stages": {"prepare": {"config": {"langs": ["en", "zh"]}, "seconds": 60,
                                           "inputs": {"corpus:test.en": test, "corpus:test.zh": test}, **adopted},
                               "train": {"config": {}, "result": {"updates": 700}}}}
        if name == "zh-lex-s1":  # a second mining round fine-tunes on
            manifest["stages"]["train2"] = {"config": {}, "result": {"updates": 300}}
        (tmp_path / "sweeps" / "sw" / "records" / f"{name}.json").write_text(json.dumps(
            {"run": name, "manifest": manifest, "evaluate": {"directions": directions}, "compress": None}))

    record("zh-base-s1", 4.0, 5.0)
    record("zh-lex-s1", 6.5, 5.5, adopted_from=str(tmp_path / "sweeps/sw/runs/zh-base-s1"))
    record("zh-lex-s2", 7.0, 5.0)  # no zh-base-s2 to set it beside
    record("zh-other-s1", 9.0, 5.0, test="other")
    sweep = tmp_path / "sweeps" / "sw"
    assert report.is_sweep(sweep) and not (sweep / "sweep.yaml").exists()
    (tmp_path / "README.md").write_text("<!-- sharing:start -->\n<!-- sharing:end -->\n")
    report.main(str(sweep), readme=str(tmp_path / "README.md"), results_md=str(tmp_path / "results.md"))

    sections = report.read_sections(tmp_path / "results.md")
    assert list(sections) == ["sweep: sw", "sweep sw: each point against its control", report.TARGETS]
    table = sections["sweep sw: each point against its control"]
    assert ("| zh-lex-s1 | zh-base-s1 | 1000 (+300) | en→zh | 6.50 (+2.50) | 65.00 (+25.00) | 5.50 (+0.50) | "
            "55.00 (+5.00) | yes, yes |") in table
    assert "|  |  |  | zh→en | 6.50 (+2.50) |" in table
    assert "zh-lex-s2" not in table and "zh-other" not in table
    assert "run of the sweep that had finished them with the same config" in sections["sweep: sw"] and \
        "(`unmt.runner.Runner.adopt`; their minutes are the source's, the time the stage takes): zh-lex-s1: prepare " \
        "from zh-base-s1.\n" in sections["sweep: sw"] + "\n"
    (tmp_path / "sweeps" / "sw.yaml").unlink()  # nothing says which sweep the records are of
    assert not report.is_sweep(sweep)


def test_a_run_takes_the_stages_another_run_finished_with_the_same_config_and_inputs(tiny_run, tmp_path):
    """A sweep's points share their first stages (same corpus, same pretraining) and differ later: a run takes
    each stage another run finished with the same config on inputs of the same content, in plan order, and
    computes the rest; its records say where each came from. A source another process holds is passed over."""
    import shutil

    from unmt.config import load_recipe
    from unmt.layout import RunLayout
    from unmt.runner import Runner, run_lock

    source = shutil.copytree(tiny_run, tmp_path / "source")
    cfg = load_recipe(ROOT / "recipes/tests/tiny.yaml", {"evaluate": {"max_lines": 7, "beam": 3}})
    with run_lock(RunLayout(source)):  # its run is going on: nothing is taken from it
        assert Runner(cfg, tmp_path / "busy", quiet=True).adopt([source]) == {}
    run = tmp_path / "run"
    taken = Runner(cfg, run, quiet=True).adopt([tmp_path / "nowhere", run, source])
    assert {"prepare", "pretrain", "align", "mine", "train"} <= set(taken) and "evaluate" not in taken
    assert set(taken.values()) == {str(source)} and not (tmp_path / "nowhere").exists()
    manifest = json.loads((run / "manifest.json").read_text())["stages"]
    assert manifest["train"]["adopted_from"] == str(source) and "evaluate" not in manifest
    assert (run / "train/checkpoint_last.pt").read_bytes() == (source / "train/checkpoint_last.pt").read_bytes()
    runner = Runner(cfg, run, quiet=True)
    assert [st.name for st, why in runner.status() if why] == ["evaluate"] + [
        n for n in ("lms", "compress") if n not in taken]
    runner.run()
    assert json.loads((run / "evaluate/results.json").read_text())["test_sentences"] == 7
    assert Runner(cfg, run, quiet=True).adopt([source]) == {}  # all up to date: nothing to take
    # the same from the command line, for a recipe that changes only what comes after training
    r = unmt("run", "recipes/tests/tiny.yaml", "--run-dir", tmp_path / "cli", "--reuse", source, "--until", "train")
    assert "[train] taken from" in r.stdout and "running" not in r.stdout, r.stdout
    r = unmt("run", "recipes/tests/tiny.yaml", "--run-dir", tmp_path / "cli", "--reuse", tmp_path, check=False)
    assert r.returncode == 2 and "--reuse: not a run folder" in r.stderr

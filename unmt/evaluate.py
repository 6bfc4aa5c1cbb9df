"""Stage 6 — evaluate: translate the held-out test set both ways and score it with sacrebleu,
beside the copy and word-by-word baselines and the lexicon's P@1. Writes results.json + results.md."""
from __future__ import annotations

import json
import time
from pathlib import Path

from tqdm import tqdm

from eval.baselines import copy_baseline, word_by_word
from eval.language_id import format_share, target_share
from eval.scoring import score_translated_lines, score_translations, translated_lines
from unmt.io import read_lines, write_lines, write_results, write_text
from unmt.layout import RunLayout


def read_lexicon(path: Path) -> dict[str, str]:
    lex = {}
    for line in read_lines(path, "lexicon"):
        parts = line.split()
        if len(parts) == 2:
            lex[parts[0]] = parts[1]
    return lex


def evaluate_run(cfg, layout: RunLayout, checkpoint: Path, name: str, lexicons: bool = True,
                 supervised: Path | None = None) -> dict:
    """Stage ``name``: test BLEU of ``checkpoint`` in every direction, beside copy and (``lexicons``: the
    align stage's) word-by-word baselines, the lexicon's P@1 and (``supervised``: its checkpoint) the
    supervised ceiling."""
    from unmt.config import directions
    from unmt.translate import Translator

    e = cfg.evaluate
    tr = Translator(checkpoint, layout, beam=e.beam, lenpen=e.lenpen, no_repeat_ngram=e.no_repeat_ngram)
    ceiling = (Translator(supervised, layout, beam=e.beam, lenpen=e.lenpen, no_repeat_ngram=e.no_repeat_ngram)
               if supervised else None)
    test = {l: read_lines(layout.text("test", l), "test set")[: e.max_lines] for l in cfg.langs}
    results = {"test_sentences": len(test[cfg.langs[0]]), "checkpoint": layout.in_run(checkpoint), "directions": {},
               "decoding": {"beam": e.beam, "lenpen": e.lenpen}
                           | ({"no_repeat_ngram": e.no_repeat_ngram} if e.no_repeat_ngram else {}),
               "reference_on_target": {l: target_share(test[l], l, cfg.langs) for l in cfg.langs}}
    for s, t in directions(cfg):
        t0 = time.time()
        with tqdm(total=len(test[s]), desc=f"translate {s}->{t}", unit="sent", leave=False) as bar:
            hyps = tr.translate(test[s], s, t, batch_size=e.batch_size, progress=bar.update)
        secs = time.time() - t0
        write_lines(layout.hypotheses(name, s, t), hyps)
        systems = {"unmt": hyps, "copy": copy_baseline(test[s])}
        if ceiling:
            systems["supervised"] = ceiling.translate(test[s], s, t, batch_size=e.batch_size)
            write_lines(layout.hypotheses(name, s, t, "supervised"), systems["supervised"])
        if lexicons:
            systems["word-by-word"] = word_by_word(test[s], read_lexicon(layout.lexicon(s, t)), s, t)
            write_lines(layout.hypotheses(name, s, t, "wbw"), systems["word-by-word"])
        keep = translated_lines(test[s], test[t])
        scores = {name: score_translations(h, test[t], t) | {"on_target": target_share(h, t, cfg.langs),
                                                             "translated_lines": score_translated_lines(h, test[t], keep, t)}
                  for name, h in systems.items()}
        scores["unmt"]["seconds"] = round(secs, 1)
        results["directions"][f"{s}-{t}"] = scores
    if lexicons:
        lex = json.loads(layout.results("align").read_text())
        results["lexicon_p@1"] = {d: r["methods"][r["selected"]].get("p@1") for d, r in lex.items()}
        results["lexicon_method"] = {d: r["selected"] for d, r in lex.items()}
    write_results(layout.results(name), results)
    write_text(layout.results(name, "md"), results_table(results))
    return results


def results_table(results: dict) -> str:
    on_target = "reference_on_target" in results  # runs evaluated before the column existed have none
    first = next(iter(next(iter(results["directions"].values())).values()), {})
    translated = "translated_lines" in first  # ditto
    rows = ["| direction | system | BLEU | chrF | tok-BLEU |" + (" in target language % |" if on_target else "")
            + (" BLEU / chrF, translated lines |" if translated else ""),
            "|---|---|---|---|---|" + ("---|" if on_target else "") + ("---|" if translated else "")]
    signatures = {}  # per target language: sacrebleu's tokenizer (and tok-BLEU's) depend on it
    for d, systems in results["directions"].items():
        for name, sc in systems.items():
            share = f" {format_share(sc.get('on_target'))} |" if on_target else ""
            if translated:
                tl = sc["translated_lines"]
                share += f" {tl['bleu']:.2f} / {tl['chrf']:.2f} |"
            rows.append(f"| {d} | {name} | {sc['bleu']:.2f} | {sc['chrf']:.2f} | {sc['tok_bleu']:.2f} |{share}")
            signatures.setdefault(d.split("-", 1)[1], (sc["bleu_signature"], sc["chrf_signature"],
                                                       sc["tok_bleu_signature"].split("+")[0]))
    out = "\n".join(rows) + "\n"
    out += f"\n{results['test_sentences']} test sentences per direction. Signatures"
    if len(set(s[:2] for s in signatures.values())) == 1:
        sig = next(iter(signatures.values()))
        out += f": BLEU `{sig[0]}`, chrF `{sig[1]}`; "
    else:
        out += " (into " + "; into ".join(f"{t}: BLEU `{s[0]}`, chrF `{s[1]}`" for t, s in signatures.items()) + "); "
    out += ("tok-BLEU = BLEU on " + ", ".join(sorted({s[2] for s in signatures.values()}))
            + " text, no further tokenization (multi-bleu style, for comparison with papers).\n")
    if "decoding" in results:  # runs evaluated before it was recorded have none
        dec = results["decoding"]
        out += (f"Decoding: beam {dec['beam']}, length penalty {dec['lenpen']:g}"
                + (f", no {dec['no_repeat_ngram']}-gram of pieces twice" if dec.get("no_repeat_ngram") else "")
                + " (evaluate.beam, evaluate.lenpen, evaluate.no_repeat_ngram).\n")
    if on_target:
        out += ("\nIn target language: share of output lines langid.py assigns to the target language among the run's "
                "languages (eval/language_id.py); the references score " + ", ".join(
                    f"{l} {format_share(v)}" for l, v in results["reference_on_target"].items()) + ".\n")
    if translated:
        out += ("\nTranslated lines: the test lines whose reference is not the source again (" + ", ".join(
            f"{d} {next(iter(sy.values()))['translated_lines']['sentences']}" for d, sy in results["directions"].items())
            + f" of {results['test_sentences']}): LibreOffice leaves some help in English, and copying scores 100 "
              "on the rest (eval/scoring.py, translated_lines).\n")
    recovered = []
    for d, systems in results["directions"].items():
        if "supervised" in systems:  # of the ceiling's gain over the better baseline, how much UNMT gets
            floor = max(systems[k]["bleu"] for k in ("copy", "word-by-word") if k in systems)
            gain = systems["supervised"]["bleu"] - floor
            share = f"{100 * (systems['unmt']['bleu'] - floor) / gain:.0f}%" if gain > 0 else "n/a (ceiling not above floor)"
            recovered.append(f"{d} {share}")
    if recovered:
        out += ("\nSupervised ceiling: the same model, start and updates trained on the true translations of the "
                "training sides. Share of its gain over the better baseline that unmt recovers: "
                + ", ".join(recovered) + ".\n")
    if "lexicon_p@1" in results:
        method = results.get("lexicon_method", {})
        out += "\nLexicon induction P@1 (CSLS, unsupervised, test dictionary): " + ", ".join(
            f"{d} {'not available' if p is None else p}" + (f" ({method[d]})" if d in method else "")
            for d, p in results["lexicon_p@1"].items()) + "\n"
    return out

"""Does the shared LM itself hold a bilingual lexicon? Word vectors read off a checkpoint's encoder (each
segmented word's mean contextual state over its occurrences, at every layer, pieces matched to words by
character offsets, so it works for Chinese and Japanese too), scored by P@1 against the test dictionary:
in the model's own space (no mapping) and after MUSE's Procrustes refinement started from the mutual CSLS
nearest neighbours of that space. Beside each, the frequency-agreement criterion, which assumes vectors
that carry no frequency -- an LM's states do, so here it is reported, not trusted.

    python -m eval.lm_lexicon runs/en-zh en zh corpora/libreoffice-en-zh/dict.en-zh.test.txt \
        --checkpoint runs/en-zh/train/checkpoint_last.pt --lines 6000

Writes OUT/lm_lexicon.{json,md} (OUT: the run's folder ``analysis``)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from unmt import align as A
from unmt.io import read_lines, write_json, write_text
from unmt.layout import RunLayout


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("src")
@click.argument("tgt")
@click.argument("dictionary", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="default: RUN_DIR/pretrain/checkpoint_last.pt (the shared LM)")
@click.option("--lines", default=6000, show_default=True, help="training lines per language")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None)
def main(run_dir, src, tgt, dictionary, checkpoint, lines, out):
    from unmt.translate import Translator

    layout = RunLayout(run_dir)
    checkpoint = checkpoint or layout.checkpoint("pretrain")
    tr = Translator(checkpoint, layout)
    emb = {}
    for lang in (src, tgt):
        started = time.time()
        emb[lang] = A.word_vectors_from_model(tr, read_lines(layout.text("train", lang))[:lines], lang, all_layers=True)
        print(f"{lang}: {len(emb[lang][0])} words in {time.time() - started:.0f} s", file=sys.stderr)
    (sw, S), (tw, T) = emb[src], emb[tgt]
    gold, _ = A.read_dictionary(dictionary, sw, tw)
    identical = sum(sw[i] == tw[j] for i, js in gold.items() for j in js)
    rows = []
    for layer in range(S.shape[1]):
        Sl, Tl = A.normalise(S[:, layer]), A.normalise(T[:, layer])
        no_map = A.precision_at_k(Sl, Tl, gold)
        seeds = pairs = A.mutual_csls_pairs(Sl, Tl, 3000)
        for _ in range(6):  # MUSE refinement: Procrustes on the dictionary, then the new mutual neighbours
            SW = Sl @ A.procrustes(Sl, Tl, pairs)
            refined = A.precision_at_k(SW, Tl, gold) | A.criteria(SW, Tl)
            pairs = A.mutual_csls_pairs(SW, Tl, 3000)
        rows.append({"layer": layer, "no_mapping_p@1": no_map["p@1"], "seed_pairs": int(len(seeds)),
                     "refined_p@1": refined["p@1"], "frequency_agreement": round(refined["frequency_agreement"], 4),
                     "muse_criterion": round(refined["criterion"], 4)})
    result = {"checkpoint": layout.in_run(checkpoint), "lines": lines, "test_words": len(gold),
              "identical_test_pairs": int(identical), "layers": rows}
    write_json(layout.analysis("lm_lexicon", "json", out), result)
    table = ["| layer | P@1 no mapping | mutual-NN seeds | P@1 refined | frequency agreement | MUSE criterion |",
             "|---|---|---|---|---|---|"]
    table += [f"| {r['layer']} | {r['no_mapping_p@1']} | {r['seed_pairs']} | {r['refined_p@1']} | "
              f"{r['frequency_agreement']} | {r['muse_criterion']} |" for r in rows]
    text = (f"`{checkpoint}`, {lines} training lines per language, {len(gold)} test words with both sides in "
            f"the vocabularies, {identical} test pairs spelled identically. Layer 0: the embedding table's rows; 1: the embedded "
            "input (scaled, with positions); 2 on: each encoder layer's output.\n\n" + "\n".join(table) + "\n")
    write_text(layout.analysis("lm_lexicon", "md", out), text)
    click.echo(text)


if __name__ == "__main__":
    main()

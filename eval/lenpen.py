"""Choose ``evaluate.lenpen`` on the dev set: translate the dev set (or its first LINES lines) in each
direction with the run's checkpoint at every length penalty asked for (fairseq's --lenpen, with beam
search) and score it as evaluate does (sacrebleu BLEU and chrF), beside the output's length relative to
the reference in characters and the share of it in the target language. A model that stops early loses
chrF recall and BLEU's brevity penalty; this says whether a longer output is also a better one, on text the
test score never sees.

    python -m eval.lenpen runs/en-zh en-zh zh-en --values 1,1.5,2,3

``--no-repeat 0,3,4`` also decodes at each ``evaluate.no_repeat_ngram`` (fairseq's --no-repeat-ngram-size:
no n-gram of pieces twice in one output), against a model that loops on one phrase until the length bound.
``--vocab-ratios 0,0.05,0.1`` also decodes at each ``train.target_vocab_min_ratio`` (the checkpoint's own
value is replaced for this sweep only): how much output in the source's language a ratio removes, before
retraining with it (back-translation decodes with it too, so the recipe's value retrains).

Writes OUT/lenpen.{json,md} (OUT: the run's folder ``analysis``)."""
from __future__ import annotations

import time
from pathlib import Path

import click

from eval.language_id import format_share, target_share
from eval.scoring import score_translations
from unmt.errors import UnmtError
from unmt.io import read_lines, write_results, write_text
from unmt.layout import RunLayout


def lenpen_sweep(translator, sources: list[str], refs: list[str], src: str, tgt: str, values,
                 no_repeat=(None,)) -> list[dict]:
    """One row per length penalty (and n-gram block size in ``no_repeat``; None: the translator's): BLEU,
    chrF, output/reference length in characters, share of the output in the target language (among the
    checkpoint's languages), seconds."""
    rows = []
    for size, lenpen in ((n, v) for n in no_repeat for v in values):
        started = time.time()
        hyps = translator.decoding(translator.beam, lenpen, size).translate(sources, src, tgt)
        scores = score_translations(hyps, refs, tgt)
        rows.append({"direction": f"{src}-{tgt}", "lenpen": lenpen}
                    | ({} if size is None else {"no_repeat_ngram": size})
                    | {"bleu": scores["bleu"], "chrf": scores["chrf"],
                     "length_ratio": round(sum(map(len, hyps)) / max(1, sum(map(len, refs))), 3),
                     "on_target": target_share(hyps, tgt, translator.langs),
                     "seconds": round(time.time() - started, 1)})
    return rows


def set_vocab_ratio(translator, ratio: float) -> None:
    """Decode with ``--target-vocab-min-ratio ratio`` from now on (the task builds that search at the next generator)."""
    if not hasattr(translator.task, "target_vocabulary_search"):
        raise click.UsageError(f"--vocab-ratios: task {type(translator.task).__name__} of this checkpoint has no "
                               "restricted decoding -- give a checkpoint of the train stage")
    translator.task.args.target_vocab_min_ratio = ratio


def sweep_table(rows: list[dict]) -> str:
    ratios = any("vocab_ratio" in r for r in rows)
    blocks = any("no_repeat_ngram" in r for r in rows)
    lines = ["| direction |" + (" vocab ratio |" if ratios else "") + (" no repeat n-gram |" if blocks else "")
             + " lenpen | BLEU | chrF | output / reference length | in target language % |",
             "|---|" + ("---|" if ratios else "") + ("---|" if blocks else "") + "---|---|---|---|---|"]
    lines += [f"| {r['direction']} |" + (f" {r.get('vocab_ratio', 0):g} |" if ratios else "")
              + (f" {r.get('no_repeat_ngram', 0) or 'off'} |" if blocks else "")
              + f" {r['lenpen']:g} | {r['bleu']:.2f} | {r['chrf']:.2f} | {r['length_ratio']:.2f} |"
              + f" {format_share(r.get('on_target'))} |" for r in rows]
    return "\n".join(lines) + "\n"


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("directions", nargs=-1, required=True)
@click.option("--values", default="1,2", show_default=True, help="length penalties, comma-separated")
@click.option("--vocab-ratios", default=None,
              help="also sweep train.target_vocab_min_ratio over these values, comma-separated (default: the checkpoint's)")
@click.option("--no-repeat", default=None,
              help="also sweep evaluate.no_repeat_ngram over these sizes, comma-separated, 0 = off "
                   "(default: the run's evaluate setting)")
@click.option("--lines", type=click.IntRange(min=1), default=None, help="first N dev lines per direction (default: all)")
@click.option("--beam", type=click.IntRange(min=2), default=None,
              help="as evaluate.beam (the length penalty needs a beam > 1); default: the run's evaluate beam, else 4")
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="default: the checkpoint the run's evaluate stage scored (else train/checkpoint_last.pt)")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None)
def main(run_dir, directions, values, vocab_ratios, no_repeat, lines, beam, checkpoint, out):
    from unmt.translate import Translator, run_decoding, scored_checkpoint

    values = number_list(values, "--values", "1,2,4")
    ratios = number_list(vocab_ratios, "--vocab-ratios", "0,0.05,0.1") if vocab_ratios else [None]
    sizes = number_list(no_repeat, "--no-repeat", "0,3,4") if no_repeat else [None]
    if any(n < 0 or n != int(n) for n in sizes if n is not None):
        raise click.BadParameter(f"'{no_repeat}': n-gram sizes are whole numbers >= 0, e.g. 0,3,4", param_hint="--no-repeat")
    sizes = [None if n is None else int(n) for n in sizes]
    pairs = [d.split("-", 1) for d in directions]
    if any(len(p) != 2 for p in pairs):
        raise click.BadParameter("give directions as SRC-TGT, e.g. en-zh zh-en", param_hint="DIRECTIONS")
    layout = RunLayout(run_dir)
    checkpoint = checkpoint or scored_checkpoint(layout)
    run_beam, _, run_no_repeat = run_decoding(layout)
    if beam is None:
        beam = run_beam if run_beam > 1 else 4
    tr = Translator(checkpoint, layout, beam=beam, no_repeat_ngram=run_no_repeat)
    rows = []
    try:
        for src, tgt in pairs:
            sources = read_lines(layout.text("dev", src), "dev set")[:lines]
            refs = read_lines(layout.text("dev", tgt), "dev set")[:lines]
            for ratio in ratios:
                if ratio is not None:
                    set_vocab_ratio(tr, ratio)
                rows += [r | ({} if ratio is None else {"vocab_ratio": ratio})
                         for r in lenpen_sweep(tr, sources, refs, src, tgt, values, sizes)]
            click.echo(sweep_table([r for r in rows if r["direction"] == f"{src}-{tgt}"]), err=True)
    except UnmtError as e:
        raise click.ClickException(str(e)) from None
    write_results(layout.analysis("lenpen", "json", out), {"checkpoint": layout.in_run(checkpoint), "dev_lines": len(sources), "beam": beam, "rows": rows})
    text = (f"`{checkpoint}`, {'all' if lines is None else f'the first {lines}'} dev lines per direction, beam {beam}.\n\n"
            + sweep_table(rows))
    write_text(layout.analysis("lenpen", "md", out), text)
    click.echo(text)


def number_list(text: str, option: str, example: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise click.BadParameter(f"'{text}' is not a comma-separated list of numbers, e.g. {example}",
                                 param_hint=option) from None


if __name__ == "__main__":
    main()

"""``unmt`` command line. Every stage is one command over a run directory; ``unmt run`` does them all."""
from __future__ import annotations

import functools
import logging
import os
import sys
import warnings
from pathlib import Path

import click

from unmt.errors import UnmtError

os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
# torch/fairseq deprecation chatter would bury our one-line errors; fairseq's own log is kept per stage.
for _category in (UserWarning, FutureWarning, DeprecationWarning):
    warnings.filterwarnings("ignore", category=_category)


def clean_errors(fn):
    """Bad input ends in one line on stderr and exit code 2, never a traceback."""
    @functools.wraps(fn)
    def wrapper(*a, **kw):
        try:
            return fn(*a, **kw)
        except UnmtError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)
    return wrapper


def _exit_on_sigterm(*_):
    sys.exit(143)  # raise SystemExit so `finally` blocks stop child trainers


def _setup_logging():
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", force=True)
    for name in ("matplotlib", "PIL", "faiss"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _recipe_and_run(recipe, run_dir, quiet=False, nproc=None):
    from unmt.config import load_recipe
    from unmt.pipeline import Run

    cfg = load_recipe(recipe, {"nproc": nproc} if nproc else None)
    run_dir = Path(run_dir) if run_dir else Path("runs") / cfg.name
    return Run(cfg, run_dir, quiet=quiet)


recipe_arg = click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
run_dir_opt = click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                           help="Run directory (default: runs/<recipe name>).")
nproc_opt = click.option("--nproc", type=click.IntRange(1), default=None,
                         help="Data-parallel fairseq workers via torchrun (GPUs, or CPU processes with gloo); "
                              "default: the recipe's nproc.")


@click.group()
@click.version_option(package_name="unmt")
def main():
    """Unsupervised machine translation from monolingual text: prepare -> pretrain -> align -> mine -> train -> evaluate."""
    import signal

    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    _setup_logging()


@main.command()
@recipe_arg
@run_dir_opt
@click.option("--dump-config", is_flag=True, help="Print the fully resolved config (preset + recipe) and exit.")
@click.option("--quiet", is_flag=True, help="Do not echo fairseq's training log lines.")
@nproc_opt
@clean_errors
def run(recipe, run_dir, dump_config, quiet, nproc):
    """Run every stage of RECIPE, skipping stages whose outputs are up to date."""
    if dump_config:
        from unmt.config import dump, load_recipe

        click.echo(dump(load_recipe(recipe)), nl=False)
        return
    _recipe_and_run(recipe, run_dir, quiet, nproc).all()


def _stage_command(name, doc):
    @main.command(name=name, help=doc)
    @recipe_arg
    @run_dir_opt
    @click.option("--force", is_flag=True, help="Redo the stage even if it is up to date.")
    @nproc_opt
    @clean_errors
    def cmd(recipe, run_dir, force, nproc):
        r = _recipe_and_run(recipe, run_dir, nproc=nproc)
        r.force = force
        getattr(r, name)()
    return cmd


_stage_command("prepare", "Normalise the corpus, train the joint SentencePiece model, write fairseq binaries.")
_stage_command("pretrain", "Pretrain the shared denoising LM on both languages (fairseq).")
_stage_command("align", "Induce a bilingual lexicon from the shared LM's word vectors (faiss, CSLS, Procrustes).")
_stage_command("mine", "Mine sentence pairs from the two training pools (margin scoring over faiss k-NN).")
_stage_command("train", "Train UNMT: denoising + online back-translation in both directions (fairseq).")
_stage_command("compress", "Code lengths K(X), K(Y), K(X,Y), K(Y|X) in bits/char: separate vs joint LMs, xz/zstd.")
_stage_command("evaluate", "Translate the test set both ways and score it against copy and word-by-word baselines.")


@main.command()
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--src", required=True, help="Source language code (e.g. en).")
@click.option("--tgt", required=True, help="Target language code (e.g. fr).")
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Default: the last round's RUN_DIR/train*/checkpoint_last.pt.")
@click.option("-i", "--input", "input_", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Input file (default: stdin).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output file (default: stdout); written atomically.")
@click.option("--beam", default=1, show_default=True)
@clean_errors
def translate(run_dir, src, tgt, checkpoint, input_, output, beam):
    """Translate lines from SRC to TGT with a trained checkpoint."""
    from unmt.io import read_lines, write_lines
    from unmt.translate import Translator

    lines = read_lines(input_, "input") if input_ else [l.rstrip("\n") for l in sys.stdin]
    if input_ is None and not any(l.strip() for l in lines):
        raise UnmtError("stdin: input is empty -- pipe sentences in, one per line, or pass -i FILE")
    from unmt.pipeline import latest_checkpoint

    tr = Translator(checkpoint or latest_checkpoint(run_dir), run_dir / "prepare", beam=beam)
    hyps = tr.translate(lines, src, tgt)
    if output:
        write_lines(output, hyps)
    else:
        click.echo("\n".join(hyps))


@main.command()
@click.option("--hyp", type=click.Path(dir_okay=False, path_type=Path), help="Hypothesis file.")
@click.option("--ref", type=click.Path(dir_okay=False, path_type=Path), help="Reference file.")
@click.option("--lang", default="en", show_default=True, help="Target language (for tokenized BLEU).")
@click.option("--recipe", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Instead of --hyp/--ref: evaluate this recipe's trained checkpoint on its test set.")
@run_dir_opt
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a line per score.")
@clean_errors
def evaluate(hyp, ref, lang, recipe, run_dir, as_json):
    """Score HYP against REF with sacrebleu (BLEU, chrF, signatures), or evaluate a run's checkpoint."""
    import json

    if recipe:
        r = _recipe_and_run(recipe, run_dir)
        r.force = True
        r.evaluate()
        click.echo(r.path("evaluate/results.md").read_text())
        return
    if not (hyp and ref):
        raise UnmtError("evaluate: give --hyp and --ref files, or --recipe RECIPE")
    from eval.scoring import score_translations
    from unmt.io import read_lines

    h, rf = read_lines(hyp, "hypothesis"), read_lines(ref, "reference")
    if len(h) != len(rf):
        raise UnmtError(f"{hyp}: has {len(h)} lines but {ref} has {len(rf)} -- they must align line by line")
    s = score_translations(h, rf, lang)
    if as_json:
        click.echo(json.dumps(s, indent=2))
    else:
        click.echo(f"BLEU {s['bleu']:.2f}  ({s['bleu_signature']})\nchrF {s['chrf']:.2f}  ({s['chrf_signature']})\n"
                   f"tok-BLEU {s['tok_bleu']:.2f}  ({s['tok_bleu_signature']})")


@main.command(name="induce-lexicon")
@click.option("--src-vec", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Source embeddings, word2vec/fastText .vec text format (most frequent words first).")
@click.option("--tgt-vec", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--src", default="src", show_default=True, help="Source language code (names the outputs).")
@click.option("--tgt", default="tgt", show_default=True)
@click.option("--dict-test", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="MUSE-format test dictionary 'src tgt' per line; a sibling *.train.* file gives supervised seeds.")
@click.option("--methods", default="identical,vecmap,adversarial", show_default=True,
              help="Comma-separated unsupervised methods; the best selection criterion gives the lexicon.")
@click.option("--max-words", default=50000, show_default=True)
@click.option("--iterations", default=5, show_default=True, help="Refinement iterations.")
@click.option("--max-rank", default=15000, show_default=True, help="Refinement dictionary among this many words.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output directory.")
@clean_errors
def induce_lexicon_cmd(src_vec, tgt_vec, src, tgt, dict_test, methods, max_words, iterations, max_rank, out):
    """Induce a bilingual lexicon from two embedding files (MUSE/VecMap methods, faiss CSLS)."""
    from unmt.align import align_embeddings, check_align_config, read_vec
    from unmt.config import AlignConfig

    if src == tgt:
        raise UnmtError(f"--src and --tgt are both '{src}' -- give two language codes")
    a = AlignConfig(methods=[m for m in methods.split(",") if m], iterations=iterations, max_rank=max_rank)
    check_align_config(a)
    emb = {src: read_vec(src_vec, max_words), tgt: read_vec(tgt_vec, max_words)}
    if emb[src][1].shape[1] != emb[tgt][1].shape[1]:
        raise UnmtError(f"{tgt_vec}: has {emb[tgt][1].shape[1]}-d vectors but {src_vec} has {emb[src][1].shape[1]}-d "
                        "-- orthogonal mapping needs the same dimension")
    out.mkdir(parents=True, exist_ok=True)
    res = align_embeddings(emb, (src, tgt), str(dict_test) if dict_test else None, a, 1, out)
    click.echo((out / "results.md").read_text())
    click.echo(f"selected: {res} -> {out}")


@main.command(name="mine-files")
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="A run whose align (lexicon encoder) or pretrain/train (model encoder) stage is done.")
@click.option("--src", required=True)
@click.option("--tgt", required=True)
@click.option("--src-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Source pool (default: RUN_DIR/prepare/text/train.SRC).")
@click.option("--tgt-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Target pool (default: RUN_DIR/prepare/text/train.TGT).")
@click.option("--encoder", type=click.Choice(["lexicon", "model", "hybrid"]), default="lexicon", show_default=True)
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Model encoder to embed with (default: RUN_DIR/pretrain/checkpoint_last.pt).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Mined TSV.")
@click.option("-k", default=4, show_default=True)
@click.option("--mode", type=click.Choice(["forward", "backward", "max", "intersect"]), default="intersect",
              show_default=True)
@click.option("--threshold", default=1.0, show_default=True, help="Minimum ratio margin.")
@clean_errors
def mine_files(run_dir, src, tgt, src_file, tgt_file, encoder, checkpoint, out, k, mode, threshold):
    """Mine sentence pairs between any two files with a run's encoder (score<TAB>src<TAB>tgt, best first)."""
    from unmt.config import MineConfig
    from unmt.io import read_lines, write_lines
    from unmt.mine import make_encoder, mine_pools

    s = read_lines(src_file or run_dir / f"prepare/text/train.{src}", "source pool")
    t = read_lines(tgt_file or run_dir / f"prepare/text/train.{tgt}", "target pool")
    encode = make_encoder(encoder, run_dir / "align", src, tgt, {src: s, tgt: t},
                          checkpoint=checkpoint or run_dir / "pretrain/checkpoint_last.pt", prepare_dir=run_dir / "prepare")
    pairs = mine_pools(encode, s, t, src, tgt, MineConfig(k=k, mode=mode, threshold=threshold))
    n = write_lines(out, (f"{sc:.4f}\t{s[i]}\t{t[j]}" for sc, i, j in pairs))
    click.echo(f"mined {n} pairs -> {out}")


if __name__ == "__main__":
    main()

"""``unmt`` command line. Every stage is one command over a run directory; ``unmt run`` does them all."""
from __future__ import annotations

import errno
import functools
import logging
import sys
from pathlib import Path

import typing

import click

from unmt.config import AlignCriterion
from unmt.errors import UnmtError

_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


def clean_errors(fn):
    """Bad input ends in one line on stderr and exit code 2, never a traceback; so do a full disk and a
    folder we may not write (the run resumes once that is fixed)."""
    @functools.wraps(fn)
    def wrapper(*a, **kw):
        try:
            return fn(*a, **kw)
        except UnmtError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)
        except OSError as e:
            if e.errno in _DISK_FULL:
                fix = "free some space, then run again: finished stages are kept and the run resumes"
            elif e.errno in _NOT_WRITABLE:
                fix = "make it writable or choose another --run-dir"
            else:
                fix = "check the path"
            where = e.filename or "a file"
            click.echo(f"error: {where}: {e.strerror or e} -- {fix}", err=True)
            sys.exit(2)
    return wrapper


def _exit_on_sigterm(*_):
    sys.exit(143)  # raise SystemExit so `finally` blocks stop child trainers


def _setup_process():
    """What the ``unmt`` program sets for itself (never at import, so importing unmt changes nothing):
    torch/fairseq deprecation chatter would bury our one-line errors (fairseq's own log is kept per stage).
    Checkpoints are read with ``weights_only`` (``unmt.fairseq_run.read_checkpoint``)."""
    import signal
    import warnings

    for category in (UserWarning, FutureWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", category=category)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", force=True)
    for name in ("matplotlib", "PIL", "faiss"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _runner(recipe, run_dir, quiet=False, nproc=None, sets=()):
    from unmt.config import load_recipe, parse_overrides
    from unmt.runner import Runner

    overrides = parse_overrides(sets)
    if nproc:
        overrides["nproc"] = nproc
    cfg = load_recipe(recipe, overrides or None)
    run_dir = Path(run_dir) if run_dir else Path("runs") / cfg.name
    return Runner(cfg, run_dir, quiet=quiet, where=str(recipe))


recipe_arg = click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
run_dir_opt = click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                           help="Run directory (default: runs/<recipe name>).")
nproc_opt = click.option("--nproc", type=click.IntRange(1), default=None,
                         help="Data-parallel fairseq workers via torchrun (GPUs, or CPU processes with gloo); "
                              "default: the recipe's nproc.")
quiet_opt = click.option("--quiet", is_flag=True, help="Do not echo fairseq's training log lines.")
force_opt = click.option("--force", is_flag=True, help="Redo the selected stages even if they are up to date.")
set_opt = click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                       help="Override a recipe field (repeatable): --set train.max_update=2000 --set corpus=DIR. "
                            "The run records the resolved config, so a changed field reruns what depends on it.")


class OneLineErrors(click.Group):
    """click's own errors (an option out of its range, a missing argument, an unknown option) in one line,
    like every other bad input, instead of the usage text and a second line."""

    def main(self, *args, **kwargs):
        kwargs.pop("standalone_mode", None)
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
        except click.ClickException as e:
            ctx = getattr(e, "ctx", None)
            if type(e).__name__ == "NoArgsIsHelpError":  # bare `unmt`: its help, as a request for it
                click.echo(ctx.get_help())
                sys.exit(0)
            see = f" -- see `{ctx.command_path} --help`" if ctx is not None else ""
            click.echo(f"error: {e.format_message().rstrip('.')}{see}", err=True)
            sys.exit(2)
        except click.Abort:
            click.echo("aborted", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=OneLineErrors)
@click.version_option(package_name="unmt")
def main():
    """Unsupervised machine translation from monolingual text: prepare -> pretrain -> align -> mine -> train
    -> evaluate -> lms -> compress. `unmt run RECIPE` runs every stage; `unmt STAGE RECIPE` runs one."""
    _setup_process()


def _show_results(r) -> None:
    L = r.layout
    for table in (L.results("compress", "md"), L.results("ablation", "md"), L.results("evaluate", "md")):
        if table.exists() and any(table.parent.name == s.name for s in r.plan):
            click.echo("\n" + table.read_text(encoding="utf-8"))
    if L.results("evaluate").exists():
        click.echo(f"results: {L.results('evaluate')}")


def _print_status(r, stages) -> None:
    for st, why in r.status(stages):
        click.echo(f"{st.name:24s} {'up to date' if why is None else 'would run: ' + why}")


@main.command()
@recipe_arg
@run_dir_opt
@click.option("--dump-config", is_flag=True, help="Print the fully resolved config (preset + recipe + --set) and exit.")
@click.option("--explain", is_flag=True, help="With --dump-config: each field under a comment saying what it does "
                                              "and who set it (default, preset, recipe file, --set).")
@quiet_opt
@nproc_opt
@click.option("--until", default=None, metavar="STAGE", help="Run the plan up to and including STAGE.")
@click.option("--only", default=None, metavar="STAGE", help="Run STAGE alone (a stage, e.g. train, or an instance, e.g. mine2).")
@click.option("--dry-run", is_flag=True, help="Print which stages would run and why, run nothing.")
@click.option("--reuse", "reuse", multiple=True, type=click.Path(file_okay=False, path_type=Path), metavar="RUN_DIR",
              help="Take each stage that RUN_DIR finished with the same config on inputs of the same content from "
                   "it instead of computing it again (e.g. a recipe that changes only decoding: --reuse "
                   "runs/default); repeatable. Not with --dry-run.")
@force_opt
@set_opt
@clean_errors
def run(recipe, run_dir, dump_config, explain, quiet, nproc, until, only, dry_run, reuse, force, sets):
    """Run every stage of RECIPE in dependency order, skipping stages whose outputs are up to date."""
    if explain and not dump_config:
        raise UnmtError("--explain: add --dump-config (it explains the dumped config)")
    if dump_config:
        from unmt.config import dump, explain as explained, load_recipe, parse_overrides

        origin: dict = {}
        cfg = load_recipe(recipe, parse_overrides(sets) or None, origin=origin)
        click.echo(explained(cfg, origin) if explain else dump(cfg), nl=False)
        return
    if until and only:
        raise UnmtError("--until and --only: give one of them")
    if reuse and dry_run:
        raise UnmtError("--reuse and --dry-run: --reuse copies stages into the run folder; drop one of them")
    r = _runner(recipe, run_dir, quiet, nproc, sets)
    stages = r.select(only=only, until=until)
    if dry_run:
        _print_status(r, stages)
        return
    from unmt.layout import RunLayout

    for d in reuse:
        if not RunLayout(d).manifest.exists():
            raise UnmtError(f"{d}: --reuse: not a run folder (no manifest.json) -- give a folder `unmt run` wrote")
    if reuse and not force:
        r.adopt(list(reuse))
    r.run(stages, force=force)
    if not (only or until):
        _show_results(r)


def _stage_command(kind: str, cls):
    @main.command(name=kind, help=f"{cls.help} Runs every '{kind}' stage of RECIPE's plan (mining rounds, "
                                  "ablation variants), skipping up-to-date ones.")
    @recipe_arg
    @run_dir_opt
    @force_opt
    @quiet_opt
    @nproc_opt
    @set_opt
    @clean_errors
    def cmd(recipe, run_dir, force, quiet, nproc, sets):
        r = _runner(recipe, run_dir, quiet, nproc, sets)
        r.run(r.select(only=kind), force=force)
    return cmd


def _evaluate_command(cls):
    """``unmt evaluate RECIPE`` is the stage; ``unmt evaluate --hyp H --ref R`` scores two files."""
    @main.command(name="evaluate", help=f"{cls.help} Or, with --hyp and --ref and no RECIPE, score a "
                                        "hypothesis file with sacrebleu (BLEU, chrF, chrF++, tok-BLEU, signatures).")
    @click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path), required=False)
    @run_dir_opt
    @force_opt
    @quiet_opt
    @nproc_opt
    @click.option("--hyp", type=click.Path(dir_okay=False, path_type=Path), help="Hypothesis file (no RECIPE).")
    @click.option("--ref", type=click.Path(dir_okay=False, path_type=Path), help="Reference file (no RECIPE).")
    @click.option("--lang", default="en", show_default=True, help="Target language (for tokenized BLEU).")
    @click.option("--json", "as_json", is_flag=True, help="With --hyp/--ref: print JSON.")
    @set_opt
    @clean_errors
    def cmd(recipe, run_dir, force, quiet, nproc, hyp, ref, lang, as_json, sets):
        if recipe and (hyp or ref):
            raise UnmtError("evaluate: give RECIPE, or --hyp and --ref, not both")
        if recipe:
            r = _runner(recipe, run_dir, quiet, nproc, sets)
            stages = r.select(only="evaluate")
            r.run(stages, force=force)
            for st in stages:  # one table per evaluate stage (ablation recipes have one per variant)
                click.echo(r.layout.results(st.name, "md").read_text(encoding="utf-8"))
            return
        if not (hyp and ref):
            raise UnmtError("evaluate: give RECIPE (evaluate a run's model), or --hyp and --ref files")
        _score_files(hyp, ref, lang, as_json)
    return cmd


def _score_files(hyp, ref, lang, as_json):
    import json

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
                   f"chrF++ {s['chrf_pp']:.2f}  ({s['chrf_pp_signature']})\n"
                   f"tok-BLEU {s['tok_bleu']:.2f}  ({s['tok_bleu_signature']})")


def _register_stage_commands():
    from unmt.stages import STAGES

    for kind, cls in STAGES.items():
        _evaluate_command(cls) if kind == "evaluate" else _stage_command(kind, cls)


_register_stage_commands()


@main.command()
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--src", required=True, help="Source language code (e.g. en).")
@click.option("--tgt", required=True, help="Target language code (e.g. fr).")
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Default: the checkpoint the run's evaluate stage scored (else the last mining round's).")
@click.option("-i", "--input", "input_", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Input file (default: stdin).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output file (default: stdout); written atomically.")
@click.option("--beam", type=click.IntRange(min=1), default=None,
              help="Beam size. Default: the beam the run's evaluate stage scored with (evaluate/results.json), "
                   "else 1 (greedy).")
@click.option("--lenpen", default=None, type=click.FloatRange(min=0.0),
              help="Length penalty (fairseq's --lenpen): > 1 favours longer output; only with a beam > 1. "
                   "Default: the run's evaluate stage's, else 1.")
@click.option("--no-repeat-ngram", default=None, type=click.IntRange(min=0),
              help="No n-gram of pieces twice in one output (fairseq's --no-repeat-ngram-size); 0 = off. "
                   "Default: the run's evaluate stage's, else 0.")
@clean_errors
def translate(run_dir, src, tgt, checkpoint, input_, output, beam, lenpen, no_repeat_ngram):
    """Translate lines from SRC to TGT with a trained checkpoint, decoding as the run's evaluate stage did
    (beam, length penalty, n-gram blocking; the vocabulary restriction comes with the checkpoint), so the
    output is what the results table scored. --beam, --lenpen and --no-repeat-ngram override.

    \b
    echo "Click the Save button." | unmt translate --run-dir runs/default --src en --tgt fr
    """
    from unmt.io import read_lines, write_lines
    from unmt.layout import RunLayout
    from unmt.translate import Translator, run_decoding, scored_checkpoint

    if src == tgt:
        raise UnmtError(f"--src and --tgt are both '{src}' -- translate between two different languages")
    layout = RunLayout(run_dir)
    beam, lenpen, no_repeat_ngram = run_decoding(layout, beam, lenpen, no_repeat_ngram)
    if lenpen != 1.0 and beam == 1:
        raise UnmtError(f"--lenpen {lenpen:g} acts only in beam search -- add --beam 4 (or the beam you chose it with)")
    if input_:
        lines = read_lines(input_, "input")
    else:
        try:
            lines = sys.stdin.buffer.read().decode("utf-8").splitlines()
        except UnicodeDecodeError as e:
            raise UnmtError(f"stdin: input is not valid UTF-8 (byte {e.start}) -- re-encode it, e.g. `iconv -t UTF-8`") from None
        if not any(l.strip() for l in lines):
            raise UnmtError("stdin: input is empty -- pipe sentences in, one per line, or pass -i FILE")
    tr = Translator(checkpoint or scored_checkpoint(layout), layout, beam=beam, lenpen=lenpen,
                    no_repeat_ngram=no_repeat_ngram)
    hyps = tr.translate(lines, src, tgt)
    if tr.cut:
        from unmt.translate import MAX_SOURCE_PIECES

        click.echo(f"note: {tr.cut} of {len(lines)} input lines had more than {MAX_SOURCE_PIECES} pieces and were "
                   f"translated from their first {MAX_SOURCE_PIECES} (the model's length) -- split long lines at "
                   "sentence ends to translate all of them", err=True)
    if output:
        write_lines(output, hyps)
    else:
        click.echo("\n".join(hyps))


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
@click.option("--criterion", type=click.Choice(typing.get_args(AlignCriterion)), default="frequency", show_default=True,
              help="How methods are ranked without gold data (unmt/align/criteria.py): frequency-rank agreement of the "
                   "translations, or MUSE's mean cosine.")
@click.option("--max-words", type=click.IntRange(min=1), default=50000, show_default=True)
@click.option("--iterations", type=click.IntRange(min=0), default=5, show_default=True, help="Refinement iterations.")
@click.option("--max-rank", type=click.IntRange(min=1), default=15000, show_default=True,
              help="Refinement dictionary among this many words.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output directory.")
@clean_errors
def induce_lexicon_cmd(src_vec, tgt_vec, src, tgt, dict_test, methods, criterion, max_words, iterations, max_rank, out):
    """Induce a bilingual lexicon from two embedding files (MUSE/VecMap methods, faiss CSLS)."""
    from unmt.align import align_embeddings, check_align_config, read_vec
    from unmt.config import AlignConfig
    from unmt.layout import RunLayout

    if src == tgt:
        raise UnmtError(f"--src and --tgt are both '{src}' -- give two language codes")
    a = AlignConfig(vectors="vec", methods=[m for m in methods.split(",") if m], criterion=criterion, iterations=iterations,
                    max_rank=max_rank)
    check_align_config(a)
    emb = {src: read_vec(src_vec, max_words), tgt: read_vec(tgt_vec, max_words)}
    if emb[src][1].shape[1] != emb[tgt][1].shape[1]:
        raise UnmtError(f"{tgt_vec}: has {emb[tgt][1].shape[1]}-d vectors but {src_vec} has {emb[src][1].shape[1]}-d "
                        "-- orthogonal mapping needs the same dimension")
    out.mkdir(parents=True, exist_ok=True)
    res = align_embeddings(emb, [(src, tgt)], {(src, tgt): dict_test}, a, 1, RunLayout(out.parent), out.name)
    click.echo(RunLayout(out.parent).results(out.name, "md").read_text())
    click.echo(f"selected: {res} -> {out}")


@main.command()
@click.argument("sweep_file", metavar="SWEEP", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The sweep folder (default: sweeps/NAME, NAME from the sweep file).")
@click.option("--executor", "kind", type=click.Choice(["local", "slurm"]), default="local", show_default=True,
              help="local: submitit's LocalExecutor, one job at a time; slurm: every job submitted at once.")
@click.option("--partition", default=None, help="Slurm partition.")
@click.option("--only", default=None, metavar="PATTERNS",
              help="Run only the runs whose names (POINT-sSEED) match one of these comma-separated shell "
                   "patterns, e.g. 'it-alone-s[23],it-shared-s[23]'; the table still shows every run.")
@click.option("--dry-run", is_flag=True, help="List the runs and where their corpora are, run nothing.")
@click.option("--table", is_flag=True, help="Only gather the table from the runs there are.")
@clean_errors
def sweep(sweep_file, out, kind, partition, only, dry_run, table):
    """Run one recipe over many language pairs (natural and cipher), each seed a job; one results table.
    See unmt/sweep.py for the sweep file and the folder it writes."""
    from unmt.layout import SweepLayout, corpus_manifest
    from unmt.sweep import corpus_of, gather, load_sweep, point_langs, run_sweep

    s = load_sweep(sweep_file)
    out = out or Path("sweeps") / s.name
    if dry_run:
        for p, seed in s.runs(only):
            corpus = corpus_of(s, p, out)
            state = "ready" if corpus_manifest(corpus).exists() else "to build"
            click.echo(f"{p.name}-s{seed}: {'-'.join(point_langs(p))}, corpus {corpus} ({state})")
        return
    if table:
        result = gather(s, out)
    else:
        result = run_sweep(s, out, kind, partition, only)
    click.echo(SweepLayout(out).results("md").read_text(encoding="utf-8"))
    click.echo(f"results: {SweepLayout(out).results()} ({len(result['rows'])} runs)")


@main.command(name="mine-files")
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="A run whose align (lexicon encoder) or pretrain/train (model encoder) stage is done.")
@click.option("--src", required=True)
@click.option("--tgt", required=True)
@click.option("--src-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Source pool (default: RUN_DIR/prepare/text/train.SRC).")
@click.option("--tgt-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Target pool (default: RUN_DIR/prepare/text/train.TGT).")
@click.option("--encoder", type=click.Choice(["lexicon", "model", "hybrid"]), default=None,
              help="Default: the run's mine stage's (else lexicon).")
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Model encoder to embed with (default: the run's pretrained LM).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Mined TSV.")
@click.option("-k", type=click.IntRange(min=1), default=None, help="Neighbours in the margin. Default: the run's.")
@click.option("--mode", type=click.Choice(["forward", "backward", "max", "intersect"]), default=None,
              help="How forward and backward matches combine. Default: the run's (else intersect).")
@click.option("--threshold", type=click.FloatRange(min=0.0), default=None, help="Minimum ratio margin. Default: the run's (else 1.0).")
@clean_errors
def mine_files(run_dir, src, tgt, src_file, tgt_file, encoder, checkpoint, out, k, mode, threshold):
    """Mine sentence pairs between any two files with a run's encoder (score<TAB>src<TAB>tgt, best first).
    Encoder, k, mode and threshold default to what the run's mine stage used (its manifest record)."""
    from unmt.config import MineConfig
    from unmt.io import read_lines, write_lines
    from unmt.layout import RunLayout
    from unmt.manifest import Manifest
    from unmt.mine import make_encoder, mine_pools

    if src == tgt:
        raise UnmtError(f"--src and --tgt are both '{src}' -- mine between two different languages")
    layout = RunLayout(run_dir)
    ran = (Manifest(layout.root).record_of("mine") or {}).get("config", {})
    given = {"encoder": encoder, "k": k, "mode": mode, "threshold": threshold}
    import dataclasses

    m = MineConfig(**{**{f.name: ran[f.name] for f in dataclasses.fields(MineConfig) if f.name in ran},
                      **{f: v for f, v in given.items() if v is not None}})
    s = read_lines(src_file or layout.text("train", src), "source pool")
    t = read_lines(tgt_file or layout.text("train", tgt), "target pool")
    encode = make_encoder(m.encoder, layout, src, tgt, {src: s, tgt: t},
                          checkpoint=checkpoint or layout.checkpoint("pretrain"))
    pairs = mine_pools(encode, s, t, src, tgt, m)
    n = write_lines(out, (f"{sc:.4f}\t{s[i]}\t{t[j]}" for sc, i, j in pairs))
    click.echo(f"mined {n} pairs -> {out}")


if __name__ == "__main__":
    main()

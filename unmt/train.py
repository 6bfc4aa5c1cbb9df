"""Stage 5 — train: UNMT with denoising auto-encoding + online back-translation, every pair both ways.

Trainer: our plugin task ``unmt_backtranslation``, which is fairseq's ``online_backtranslation``
(one shared encoder-decoder, language tags, ``step:value`` lambda schedules, BT generation bounded
to 1.3*len+5 tokens so memory stays bounded) plus an optional word-by-word warm start. We chose it
over ``semisupervised_translation`` (per-pair sub-models; crashes in train_step, fairseq#3640 —
fixed in our plugin as ``semisupervised_translation_fixed``; hangs on multi-GPU, fairseq#2428)
because its single shared model *is* the pretrained LM, so initialisation is a plain restore.
"""
from __future__ import annotations

from pathlib import Path

import sentencepiece as spm

from unmt.fairseq_run import model_args, optim_args, run_fairseq_train, sampling_args
from unmt.io import read_lines, write_lines
from unmt.layout import RunLayout, fairseq_binary, pair_text, tok_dir
from unmt.prepare import binarize, encode


def binarize_pair(layout: RunLayout, prefix: Path, src: str, tgt: str, out: Path) -> str:
    """``prefix.{src,tgt}`` (SentencePiece text) -> fairseq binaries in ``out`` with the run's one dictionary."""
    d = str(layout.dictionary)
    binarize(["--srcdict", d, "--tgtdict", d, "--trainpref", str(prefix), "--source-lang", src, "--target-lang", tgt,
              "--destdir", str(out)])
    return f"{src}-{tgt}"


def build_warm_data(cfg, layout: RunLayout, out: Path) -> list[str]:
    """Pseudo-parallel pairs (wbw(x) -> x) for each direction; returns the fairseq pair names."""
    from eval.baselines import word_by_word
    from unmt.config import directions
    from unmt.evaluate import read_lexicon

    sp = spm.SentencePieceProcessor(model_file=str(layout.spm_model))
    pairs = []
    for s, t in directions(cfg):
        lines = read_lines(layout.text("train", s))
        pseudo = word_by_word(lines, read_lexicon(layout.lexicon(s, t)), s, t)
        tok = tok_dir(out)
        write_lines(pair_text(tok, "train", t, s, t), encode(sp, pseudo, cfg.prepare.max_len))
        write_lines(pair_text(tok, "train", t, s, s), encode(sp, lines, cfg.prepare.max_len))
        pairs.append(binarize_pair(layout, pair_text(tok, "train", t, s), t, s, out))
    return pairs


def build_mined_data(cfg, layout: RunLayout, mined_tsv: dict[tuple[str, str], Path], out: Path) -> list[str]:
    """Each pair's mined pairs (``mined_tsv``: {(src, tgt): tsv}) as fairseq binaries in both directions;
    returns the pair names."""
    from unmt.mine import read_mined

    sp = spm.SentencePieceProcessor(model_file=str(layout.spm_model))
    names = []
    for (src, tgt), tsv in mined_tsv.items():
        sides = dict(zip((src, tgt), read_mined(tsv)))
        tok = tok_dir(out)
        for lang in (src, tgt):
            write_lines(pair_text(tok, "mined", src, tgt, lang), encode(sp, sides[lang], cfg.prepare.max_len))
        names += [binarize_pair(layout, pair_text(tok, "mined", src, tgt), s, t, out) for s, t in ((src, tgt), (tgt, src))]
    return names


def train(cfg, layout: RunLayout, name: str, restore: Path | None, quiet: bool = False,
          mined_tsv: dict[tuple[str, str], Path] | None = None, max_update: int | None = None,
          max_minutes: float | None = None) -> dict:
    """Train stage ``name`` (its folder in ``layout``), starting from ``restore`` (None: from scratch)."""
    from unmt.config import directions, pair_list

    t = cfg.train
    out_dir = layout.dir(name)
    dirs = [f"{s}-{g}" for s, g in directions(cfg)]
    last = directions(cfg)[-1]  # the last binaries each builder writes: present = built (before a kill)
    args = ["--task", "unmt_backtranslation", "--mono-langs", ",".join(cfg.langs),
            "--valid-lang-pairs", ",".join(dirs), "--bt-pairs", ",".join(f"{s}-{g}" for s, g in pair_list(cfg)),
            "--lambda-bt", t.lambda_bt, "--lambda-dae", t.lambda_dae,
            "--max-word-shuffle-distance", str(t.word_shuffle), "--word-dropout-prob", str(t.word_dropout),
            "--word-blanking-prob", str(t.word_blank)]
    if "mined" in t.warm_start:
        mined = layout.pseudo_parallel(name, "mined")
        if not fairseq_binary(mined, last[0], last[1], last[1]).exists():
            build_mined_data(cfg, layout, mined_tsv, mined)
        args += ["--mined-data", str(mined), "--mined-pairs", ",".join(dirs), "--lambda-mined", t.lambda_mined]
    if "wbw" in t.warm_start:
        warm = layout.pseudo_parallel(name, "warm")
        if not fairseq_binary(warm, last[1], last[0], last[0]).exists():
            build_warm_data(cfg, layout, warm)
        args += ["--warm-data", str(warm), "--warm-pairs", ",".join(f"{g}-{s}" for s, g in directions(cfg)),
                 "--lambda-warm", t.lambda_warm]
    if t.validate_interval_updates:  # dev BLEU both ways every N updates; checkpoint_best.pt = best mean BLEU
        args += ["--validate-interval-updates", str(t.validate_interval_updates), "--validate-interval", "1000",
                 "--valid-sentences", str(t.valid_sentences)]
        if t.valid_bleu:
            args += ["--valid-bleu", "--best-checkpoint-metric", "bleu", "--maximize-best-checkpoint-metric"]
    else:
        args += ["--disable-validation"]
    if t.target_vocab_min_count:
        args += ["--target-vocab-min-count", str(t.target_vocab_min_count)]
    if t.target_vocab_min_ratio:
        args += ["--target-vocab-min-ratio", str(t.target_vocab_min_ratio)]
    args += model_args(cfg.model) + optim_args(t.lr, t.warmup_updates, t.max_tokens, t.update_freq, cfg.seed)
    args += sampling_args(t)
    return run_fairseq_train(layout.bin_dir, out_dir, args, max_update or t.max_update, restore=restore,
                             quiet=quiet, max_minutes=max_minutes or t.max_minutes, nproc=cfg.nproc,
                             precision=cfg.precision, save_every=t.validate_interval_updates or None,
                             run_root=layout.root)


def valid_records(train_log: Path):
    """(subset, {field: value}) for every validation fairseq logged to ``train_log`` (JSON records whose
    keys carry the subset's name as prefix: ``valid_loss`` -> ``loss``)."""
    from unmt.fairseq_run import log_records

    for name, rec in log_records(train_log):
        if name in ("train", "train_inner"):  # training records carry num_updates too
            continue
        prefix = name + "_"
        if f"{prefix}num_updates" in rec:
            yield name, {k[len(prefix):]: v for k, v in rec.items() if k.startswith(prefix)}


def read_valid_log(train_log: Path) -> list[dict]:
    """Every validation fairseq logged: num_updates, dev BLEU and K(Y|X) in bits/char per direction."""
    points = []
    for _, fields in valid_records(train_log):
        point = {}
        for k, v in fields.items():
            if k == "num_updates" or k.startswith(("bleu", "bpc_", "bpb_", "loss", "nll_loss")):
                try:
                    point[k] = int(float(v)) if k == "num_updates" else float(v)
                except (TypeError, ValueError):
                    pass
        if "num_updates" in point:
            points.append(point)
    return points

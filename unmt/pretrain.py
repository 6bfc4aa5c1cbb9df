"""Stage 2 — pretrain: one shared denoising LM on every language's monolingual side.

It is the translation model's own architecture trained only to reconstruct noisy sentences of
each language (word shuffle / drop / blank, language tag first) — mBART-style pretraining — so the
translation stage starts from it without any re-mapping of weights or vocabulary. The task is the
translation stage's (fairseq's ``online_backtranslation`` + our flags) with the BT weight at zero.
"""
from __future__ import annotations

from pathlib import Path

from unmt.fairseq_run import model_args, optim_args, run_fairseq_train, sampling_args
from unmt.layout import RunLayout


def pretrain(cfg, layout: RunLayout, out_dir: Path, quiet: bool = False) -> dict:
    from unmt.config import directions

    p = cfg.pretrain
    src, tgt = directions(cfg)[0]
    args = ["--task", "unmt_backtranslation", "--mono-langs", ",".join(cfg.langs), "--valid-lang-pairs", f"{src}-{tgt}",
            "--lambda-bt", "0", "--lambda-dae", "1", "--disable-validation",
            "--max-word-shuffle-distance", str(p.word_shuffle), "--word-dropout-prob", str(p.word_dropout),
            "--word-blanking-prob", str(p.word_blank)]
    args += model_args(cfg.model) + optim_args(p.lr, p.warmup_updates, p.max_tokens, p.update_freq, cfg.seed)
    args += sampling_args(p)
    return run_fairseq_train(layout.bin_dir, Path(out_dir), args, p.max_update, quiet=quiet,
                             max_minutes=p.max_minutes, nproc=cfg.nproc, precision=cfg.precision, run_root=layout.root)

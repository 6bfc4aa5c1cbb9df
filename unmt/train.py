"""Stage 5 — train: UNMT with denoising auto-encoding + online back-translation, both directions.

Trainer: fairseq's ``online_backtranslation`` task (one shared encoder-decoder, language tags,
``step:value`` lambda schedules, BT generation bounded to 1.3*len+5 tokens). We chose it over
``semisupervised_translation`` (per-pair sub-models, crashes in train_step: fairseq#3640, fixed in
our plugin as ``semisupervised_translation_fixed``; hangs multi-GPU: fairseq#2428) because the shared
model is exactly the pretrained LM, so initialisation is a plain checkpoint restore.
"""
from __future__ import annotations

from pathlib import Path

from unmt.fairseq_run import model_args, optim_args, run_fairseq_train


def train(cfg, prepare_dir: Path, out_dir: Path, pretrained: Path | None, quiet: bool = False) -> Path:
    t, (src, tgt) = cfg.train, cfg.langs
    args = ["--task", "online_backtranslation", "--mono-langs", f"{src},{tgt}", "--valid-lang-pairs", f"{src}-{tgt}",
            "--lambda-bt", t.lambda_bt, "--lambda-dae", t.lambda_dae,
            "--max-word-shuffle-distance", str(t.word_shuffle), "--word-dropout-prob", str(t.word_dropout),
            "--word-blanking-prob", str(t.word_blank)]
    if t.validate_interval_updates:
        args += ["--validate-interval-updates", str(t.validate_interval_updates), "--validate-interval", "1000"]
    else:
        args += ["--disable-validation"]
    args += model_args(cfg.model) + optim_args(t.lr, t.warmup_updates, t.max_tokens, t.update_freq,
                                              t.max_update, cfg.seed)
    restore = pretrained if (t.init_from_pretrain and pretrained) else None
    return run_fairseq_train(Path(prepare_dir) / "bin", Path(out_dir), args, restore=restore, quiet=quiet)

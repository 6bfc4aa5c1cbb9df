"""train: UNMT, denoising + online back-translation both ways (fairseq; unmt/train.py). One instance per
mining round (train, train2, ...) or per ablation variant (train-<variant>)."""
from __future__ import annotations

from unmt.layout import round_name
from unmt.stages.base import Stage, register_stage
from unmt.stages.mine import start_of_round


@register_stage("train")
class Train(Stage):
    help = "Train UNMT: denoising + online back-translation, every pair both ways (fairseq)."
    resumable = True

    def __init__(self, cfg, layout, round: int = 1, variant: str | None = None):
        super().__init__(cfg, layout, f"train-{variant}" if variant else round_name("train", round))
        self.round, self.variant = round, variant
        t = cfg.train
        self.restore = start_of_round(layout, round) if (t.init_from_pretrain or round > 1) else None
        # later rounds fine-tune for round_updates, with round_minutes as their safety net
        self.max_update = t.max_update if round == 1 else cfg.mine.round_updates
        self.max_minutes = t.max_minutes if round == 1 else cfg.mine.round_minutes

    def config(self):
        conf = self.training_config(self.cfg.train) | {"max_len": self.cfg.prepare.max_len}
        if self.round > 1:
            conf |= {"round": self.round, "round_updates": self.max_update, "round_minutes": self.max_minutes}
        return conf

    def inputs(self):
        from unmt.config import directions, pair_list

        L, warm = self.layout, self.cfg.train.warm_start
        files = {"bin": L.bin_dir, "spm.model": L.spm_model}
        if self.restore:
            files["restore"] = self.restore
        if "wbw" in warm:  # word-by-word translations of each training side
            files |= self.texts("train") | {f"lexicon.{a}-{b}": L.lexicon(a, b) for a, b in directions(self.cfg)}
        if "mined" in warm:
            files |= {f"mined.{s}-{t}": L.mined(round_name("mine", self.round), s, t) for s, t in pair_list(self.cfg)}
        return files

    def outputs(self):
        files = {"checkpoint": self.layout.checkpoint(self.name)}
        t = self.cfg.train
        if t.valid_bleu and 0 < t.validate_interval_updates <= self.max_update:
            files["best"] = self.layout.checkpoint(self.name, "best")
        return files

    def run(self, ctx):
        from unmt.train import train

        restore = ctx.input("restore") if self.restore else None
        from unmt.config import pair_list

        mined = ({(s, t): ctx.input(f"mined.{s}-{t}") for s, t in pair_list(self.cfg)}
                 if "mined" in self.cfg.train.warm_start else None)
        return train(self.cfg, ctx.layout, self.name, restore, ctx.quiet, mined, self.max_update, self.max_minutes)

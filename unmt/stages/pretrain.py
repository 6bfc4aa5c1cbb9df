"""pretrain: one shared denoising LM on every language (fairseq; unmt/pretrain.py)."""
from __future__ import annotations

from unmt.stages.base import Stage, register_stage


@register_stage("pretrain")
class Pretrain(Stage):
    help = "Pretrain the shared denoising LM on both languages (fairseq)."
    resumable = True

    def config(self):
        conf = self.training_config(self.cfg.pretrain)
        conf.pop("pairs", None)  # the LM learns every language; which pairs translate later does not matter
        return conf

    def inputs(self):
        return {"bin": self.layout.bin_dir}

    def outputs(self):
        return {"checkpoint": self.layout.checkpoint(self.name)}

    def run(self, ctx):
        from unmt.pretrain import pretrain

        return pretrain(self.cfg, ctx.layout, self.dir, ctx.quiet)

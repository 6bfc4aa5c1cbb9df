"""lms: the causal LMs the compress stage codes with -- each language alone, each pair and all jointly
(fairseq; unmt/compress.py). They read only the prepared text, so they are trained once per corpus and
model size, whatever the translation model or its decoding."""
from __future__ import annotations

from unmt.stages.base import Stage, register_stage


@register_stage("lms")
class CodeLMs(Stage):
    help = "Train the causal LMs that code the held-out text: each language alone, each pair and all jointly."
    resumable = True

    def config(self):
        conf = self.training_config(self.cfg.compress) | {"max_len": self.cfg.prepare.max_len}
        del conf["nproc"]  # the code-length LMs train in one process whatever the recipe's nproc
        return conf

    def inputs(self):
        L = self.layout
        return {"dict": L.dictionary, "spm.model": L.spm_model, **self.texts("train"),
                **self.texts(self.cfg.compress.heldout)}

    def outputs(self):
        return {"results": self.layout.results(self.name)}

    def run(self, ctx):
        from unmt.compress import train_code_lms

        train_code_lms(self.cfg, ctx.layout, ctx.quiet, self.name)

"""compress: code lengths K(X), K(Y), K(X,Y), K(Y|X) in bits/char, from the lms stage's LMs and the
translation models, beside xz/zstd and test BLEU (unmt/compress.py)."""
from __future__ import annotations

from unmt.stages.base import Stage, register_stage


@register_stage("compress")
class Compress(Stage):
    help = "Code lengths K(X), K(Y), K(X,Y), K(Y|X) in bits/char: separate vs joint LMs, xz/zstd."

    def __init__(self, cfg, layout, models: dict[str, tuple[str, str]]):
        """``models``: {name: (train stage, evaluate stage)} to code K(Y|X) with; the last is the main one."""
        super().__init__(cfg, layout)
        self.models = models

    def config(self):
        return {**self.langs_config(), "heldout": self.cfg.compress.heldout,
                "models": {k: list(v) for k, v in self.models.items()}}

    def inputs(self):
        L = self.layout
        files = {"lms": L.results("lms"), "dict": L.dictionary, "spm.model": L.spm_model, **self.texts("test"),
                 **self.texts(self.cfg.compress.heldout)}
        for name, (train, evaluate) in self.models.items():
            files |= {f"{name}:checkpoint": L.checkpoint(train), f"{name}:train_log": L.train_log(train),
                      f"{name}:evaluate": L.results(evaluate)}
        return files

    def optional_inputs(self):
        # K(Y|X) needs a trained model; without one (`unmt lms` and `unmt compress` right after prepare)
        # K(X), K(Y) and K(X,Y) are still coded
        return {f"{name}:{part}" for name in self.models for part in ("checkpoint", "train_log", "evaluate")}

    def outputs(self):
        return {"results": self.layout.results(self.name), "table": self.layout.results(self.name, "md")}

    def run(self, ctx):
        from unmt.compress import compress_stage

        models = {name: stages for name, stages in self.models.items()
                  if all(ctx.input(f"{name}:{part}").exists() for part in ("checkpoint", "train_log", "evaluate"))}
        return compress_stage(self.cfg, ctx.layout, ctx.input("lms"), models, self.name)

"""prepare: corpus -> normalised text, joint SentencePiece model, fairseq binaries (unmt/prepare.py)."""
from __future__ import annotations

from pathlib import Path

from unmt.config import fingerprint_fields
from unmt.layout import SPLITS
from unmt.stages.base import Stage, register_stage


@register_stage("prepare")
class Prepare(Stage):
    help = "Normalise the corpus, train the joint SentencePiece model, write fairseq binaries."

    @classmethod
    def validate(cls, cfg, where):
        from unmt.prepare import corpus_files

        corpus_files(Path(cfg.corpus), cfg.langs)  # every file there, or a one-line error naming the missing one

    def config(self):
        c = self.cfg
        return {**self.langs_config(), "seed": c.seed, **fingerprint_fields(c.prepare)}

    def inputs(self):
        from unmt.prepare import corpus_files

        return {f"corpus:{k}": p for k, p in corpus_files(Path(self.cfg.corpus), self.cfg.langs).items()}

    def outputs(self):
        files = {"spm.model": self.layout.spm_model, "dict": self.layout.dictionary, "bin": self.layout.bin_dir}
        for split in SPLITS:
            files |= self.texts(split)
        return files

    def run(self, ctx):
        from unmt.config import directions
        from unmt.prepare import prepare

        c = self.cfg
        files = {name.split(":", 1)[1]: ctx.input(name) for name in self.inputs()}
        return prepare(files, ctx.layout, tuple(c.langs), c.prepare, c.seed, directions(c))

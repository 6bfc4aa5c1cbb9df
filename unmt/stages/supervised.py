"""supervised: the ceiling beside the floor -- the UNMT model's architecture, start (the pretrained LM) and
update budget, trained on the true translations of both training sides (the corpus's ``parallel.*`` files,
which no unsupervised stage reads). Evaluate scores it as the "supervised" row of every direction."""
from __future__ import annotations

from pathlib import Path

from unmt.stages.base import Stage, register_stage


def parallel_files(corpus: Path, src: str, tgt: str) -> dict[str, Path]:
    return {lang: corpus / f"parallel.{src}-{tgt}.{lang}.xz" for lang in (src, tgt)}


@register_stage("supervised")
class Supervised(Stage):
    help = "Train the supervised ceiling: the same model and budget on the true translations of the training sides."
    resumable = True

    @classmethod
    def validate(cls, cfg, where):
        from unmt.config import pair_list
        from unmt.errors import fail

        if not cfg.supervised_ceiling:
            return
        for s, t in pair_list(cfg):
            for path in parallel_files(Path(cfg.corpus), s, t).values():
                if not path.is_file():
                    raise fail(path, "supervised_ceiling needs the corpus's parallel files",
                               "rebuild the corpus with `python -m data_prep.build_corpus` (LibreOffice corpora), "
                               "or set supervised_ceiling: false")

    def __init__(self, cfg, layout):
        super().__init__(cfg, layout)
        self.restore = layout.checkpoint("pretrain") if cfg.train.init_from_pretrain else None

    def config(self):
        return self.training_config(self.cfg.train) | {"max_len": self.cfg.prepare.max_len,
                                                       "max_train_lines": self.cfg.prepare.max_train_lines}

    def inputs(self):
        from unmt.config import pair_list

        files = {"bin": self.layout.bin_dir, "dict": self.layout.dictionary, "spm.model": self.layout.spm_model}
        if self.restore:
            files["restore"] = self.restore
        for s, t in pair_list(self.cfg):
            files |= {f"parallel.{s}-{t}.{x}": p for x, p in parallel_files(Path(self.cfg.corpus), s, t).items()}
        return files

    def outputs(self):
        return {"checkpoint": self.layout.checkpoint(self.name)}

    def run(self, ctx):
        from unmt.config import pair_list, supervised_variant
        from unmt.io import read_lines, write_lines
        from unmt.train import train

        cfg, tsv = supervised_variant(self.cfg), {}
        for s, t in pair_list(cfg):
            sides = [read_lines(ctx.input(f"parallel.{s}-{t}.{x}"), "parallel text") for x in (s, t)]
            pairs = [(a.strip(), b.strip()) for a, b in zip(*sides) if a.strip() and b.strip()]
            pairs = pairs[: cfg.prepare.max_train_lines] if cfg.prepare.max_train_lines else pairs
            tsv[(s, t)] = ctx.layout.parallel_pairs(self.name, s, t)
            write_lines(tsv[(s, t)], (f"1.0\t{a}\t{b}" for a, b in pairs))
        restore = ctx.input("restore") if self.restore else None
        return train(cfg, ctx.layout, self.name, restore, ctx.quiet, tsv)

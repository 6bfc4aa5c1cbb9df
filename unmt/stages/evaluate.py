"""evaluate: test BLEU both ways beside copy and word-by-word baselines (sacrebleu; unmt/evaluate.py)."""
from __future__ import annotations

from unmt.config import fingerprint_fields
from unmt.stages.base import Stage, register_stage


@register_stage("evaluate")
class Evaluate(Stage):
    help = "Translate the test set in every direction; score it beside copy and word-by-word baselines."

    def __init__(self, cfg, layout, train_stage: str = "train", variant: str | None = None):
        super().__init__(cfg, layout, f"evaluate-{variant}" if variant else "evaluate")
        self.train_stage = train_stage
        self.ceiling = cfg.supervised_ceiling and not variant  # the supervised row of the main table

    def config(self):
        return {**self.langs_config(), "train_stage": self.train_stage, **fingerprint_fields(self.cfg.evaluate)}

    def inputs(self):
        from unmt.config import directions

        L, t = self.layout, self.cfg.train
        # best: the best mean dev BLEU (uses the parallel dev set, XLM practice); last: no parallel data
        return {"checkpoint": L.checkpoint(self.train_stage, self.cfg.evaluate.checkpoint),
                "dict": L.dictionary, "spm.model": L.spm_model, **self.texts("test"),
                **{f"lexicon.{a}-{b}": L.lexicon(a, b) for a, b in directions(self.cfg)},
                "align_results": L.results("align"),
                **({"supervised": L.checkpoint("supervised")} if self.ceiling else {}),
                # decoding restricted to each language's pieces counts them in the training binaries
                **({"bin": L.bin_dir} if t.target_vocab_min_count or t.target_vocab_min_ratio else {})}

    def outputs(self):
        return {"results": self.layout.results(self.name), "table": self.layout.results(self.name, "md")}

    def run(self, ctx):
        from unmt.evaluate import evaluate_run

        ceiling = ctx.input("supervised") if self.ceiling else None
        return evaluate_run(self.cfg, ctx.layout, ctx.input("checkpoint"), self.name, supervised=ceiling) and None

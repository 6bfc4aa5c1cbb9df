"""evaluate: test BLEU both ways beside copy and word-by-word baselines (sacrebleu; unmt/evaluate.py)."""
from __future__ import annotations

from unmt.config import to_dict
from unmt.stages.base import Stage, register_stage


@register_stage("evaluate")
class Evaluate(Stage):
    help = "Translate the test set both ways and score it against copy and word-by-word baselines."

    def __init__(self, cfg, layout, train_stage: str = "train", variant: str | None = None):
        super().__init__(cfg, layout, f"evaluate-{variant}" if variant else "evaluate")
        self.train_stage = train_stage

    def config(self):
        return {"langs": list(self.cfg.langs), "train_stage": self.train_stage, **to_dict(self.cfg.evaluate)}

    def inputs(self):
        L, (s, t) = self.layout, self.cfg.langs
        # best: the best mean dev BLEU (uses the parallel dev set, XLM practice); last: no parallel data
        return {"checkpoint": L.checkpoint(self.train_stage, self.cfg.evaluate.checkpoint),
                "dict": L.dictionary, "spm.model": L.spm_model, **self.texts("test"),
                **{f"lexicon.{a}-{b}": L.lexicon(a, b) for a, b in ((s, t), (t, s))},
                "align_results": L.results("align")}

    def outputs(self):
        return {"results": self.layout.results(self.name), "table": self.layout.results(self.name, "md")}

    def run(self, ctx):
        from unmt.evaluate import evaluate_run

        return evaluate_run(self.cfg, self.layout, ctx.input("checkpoint"), self.name) and None

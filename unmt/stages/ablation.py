"""ablation: one table and one dev-BLEU plot over the recipe's train variants (unmt/ablate.py)."""
from __future__ import annotations

from unmt.stages.base import Stage, register_stage


@register_stage("ablation")
class Ablation(Stage):
    help = "Gather the ablation variants' test BLEU and dev-BLEU curves into one table and one plot."

    def __init__(self, cfg, layout, variants: dict[str, tuple[str, str]]):
        """``variants``: {variant: (train stage, evaluate stage)}."""
        super().__init__(cfg, layout)
        self.variants = variants

    def config(self):
        return {**self.langs_config(), "variants": self.cfg.ablation}

    def inputs(self):
        L = self.layout
        files = {}
        for v, (train, evaluate) in self.variants.items():
            files |= {f"{v}:train_log": L.train_log(train), f"{v}:evaluate": L.results(evaluate)}
        return files

    def outputs(self):
        return {"results": self.layout.results(self.name), "table": self.layout.results(self.name, "md")}

    def run(self, ctx):
        from unmt.ablate import ablation_report
        from unmt.config import directions

        records = {train: ctx.manifest.record_of(train) or {} for train, _ in self.variants.values()}
        ablation_report(ctx.layout, self.variants, [f"{s}-{t}" for s, t in directions(self.cfg)], self.cfg.ablation,
                        records, self.name)

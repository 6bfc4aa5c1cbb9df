"""mine: margin-scored bitext mining between the two training pools (unmt/mine.py). Round r > 1 of a
CRISS-style recipe re-encodes with round r-1's translation model (``mine.later_encoder``)."""
from __future__ import annotations

from unmt.config import fingerprint_fields
from unmt.layout import round_name
from unmt.stages.base import Stage, register_stage


def start_of_round(layout, rnd: int):
    """The model round r encodes with (mine) and starts from (train): the LM, then the last round's."""
    return layout.checkpoint("pretrain") if rnd == 1 else layout.checkpoint(round_name("train", rnd - 1))


@register_stage("mine")
class Mine(Stage):
    help = "Mine sentence pairs from each pair's two training pools (margin scoring over faiss k-NN)."

    def __init__(self, cfg, layout, round: int = 1):
        super().__init__(cfg, layout, round_name("mine", round))
        self.round = round
        self.encoder = cfg.mine.encoder if round == 1 else cfg.mine.later_encoder

    def config(self):
        c = self.cfg
        # the round count and the training budgets of later rounds do not change what this round computes
        skip = {"rounds", "round_updates", "round_minutes", "later_encoder" if self.round == 1 else "encoder"}
        return {**self.langs_config(), "seed": c.seed, "round": self.round,
                **{k: v for k, v in fingerprint_fields(c.mine).items() if k not in skip}}

    def inputs(self):
        from unmt.config import pair_list

        L, pairs = self.layout, pair_list(self.cfg)
        langs = sorted({x for p in pairs for x in p}, key=self.cfg.langs.index)
        files = {**self.texts("train", langs), **self.texts("dev", langs)}
        if self.encoder != "model":  # the lexical encoder: align's vectors, mapping and lexicon
            for s, t in pairs:
                files |= {f"lexicon.{s}-{t}": L.lexicon(s, t), f"mapping.{s}-{t}": L.mapping(s, t)}
            files |= {**{f"words.{x}": L.words(x) for x in langs}, **{f"vectors.{x}": L.vectors(x) for x in langs}}
        if self.encoder != "lexicon":
            files |= {"checkpoint": start_of_round(L, self.round), "dict": L.dictionary, "spm.model": L.spm_model}
        return files

    def outputs(self):
        from unmt.config import pair_list

        return {**{f"mined.{s}-{t}": self.layout.mined(self.name, s, t) for s, t in pair_list(self.cfg)},
                "results": self.layout.results(self.name)}

    def run(self, ctx):
        from unmt.mine import mine_stage

        checkpoint = ctx.input("checkpoint") if self.encoder != "lexicon" else None
        return mine_stage(self.cfg, ctx.layout, self.name, checkpoint, self.encoder)

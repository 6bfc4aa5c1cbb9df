"""The recipe runner: each stage reads files, writes files, and is recorded in ``manifest.json``.

    prepare -> pretrain -> align -> mine -> train [-> mine2 -> train2 ...] -> evaluate -> compress

A stage whose outputs exist and whose inputs (sha256) and config are unchanged is skipped. A stage
that was killed has no manifest record and is simply run again; fairseq stages resume from their
``checkpoint_last.pt``. A stage whose inputs or config changed is wiped and redone.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import click

from unmt.config import to_dict
from unmt.manifest import Manifest


def round_name(stage: str, rnd: int) -> str:
    """Mining round r's stage directory: mine, train (r = 1), mine2, train2, ..."""
    return stage if rnd == 1 else f"{stage}{rnd}"


def latest_checkpoint(run_dir: Path) -> Path:
    """The last mining round's translation model (train, train2, ...), for translate/evaluate defaults."""
    rnd = 1
    while (Path(run_dir) / round_name("train", rnd + 1) / "checkpoint_last.pt").exists():
        rnd += 1
    return Path(run_dir) / round_name("train", rnd) / "checkpoint_last.pt"


class Run:
    def __init__(self, cfg, run_dir: Path, force: bool = False, quiet: bool = False):
        self.cfg, self.dir, self.force, self.quiet = cfg, Path(run_dir), force, quiet
        self.manifest = Manifest(self.dir)

    def path(self, *parts) -> Path:
        return self.dir.joinpath(*parts)

    def _stage(self, name, inputs, config, outputs, work):
        if not self.force and self.manifest.is_current(name, inputs, config):
            click.echo(f"[{name}] up to date, skipped (outputs in {self.path(name)})")
            return
        stage_dir = self.path(name)
        if name in self.manifest.data["stages"] and stage_dir.exists():
            shutil.rmtree(stage_dir)  # inputs or config changed: the old outputs are stale
            del self.manifest.data["stages"][name]
        stage_dir.mkdir(parents=True, exist_ok=True)
        click.echo(f"[{name}] running -> {stage_dir}")
        started = time.time()
        extra = work() or {}
        self.manifest.record(name, inputs, outputs, config, started, {"result": extra} if extra else None)
        click.echo(f"[{name}] done in {time.time() - started:.0f}s")

    def _training_conf(self, section) -> dict:
        """What a fairseq stage's result depends on besides its own section of the config."""
        c = self.cfg
        return {"langs": list(c.langs), "seed": c.seed, "precision": c.precision, "model": to_dict(c.model),
                **to_dict(section)}

    # -- stages ------------------------------------------------------------------------------
    def prepare(self):
        from unmt.prepare import corpus_files, prepare

        c = self.cfg
        files = list(corpus_files(Path(c.corpus), c.langs).values())
        conf = {"langs": list(c.langs), "seed": c.seed, **to_dict(c.prepare)}
        self._stage("prepare", files, conf, [self.path("prepare/bin/dict.txt"), self.path("prepare/spm.model")],
                    lambda: prepare(Path(c.corpus), self.path("prepare"), tuple(c.langs), c.prepare.vocab_size,
                                    c.prepare.max_len, c.prepare.max_train_lines, c.prepare.max_eval_lines, c.seed))

    def pretrain(self):
        from unmt.pretrain import pretrain

        c = self.cfg
        conf = self._training_conf(c.pretrain)
        self._stage("pretrain", [self.path("prepare/bin")], conf, [self.path("pretrain/checkpoint_last.pt")],
                    lambda: {"checkpoint": str(pretrain(c, self.path("prepare"), self.path("pretrain"), self.quiet))})

    def align(self):
        from unmt.align import align_stage

        c = self.cfg
        inputs = [self.path("pretrain/checkpoint_last.pt")] + ([c.dictionary_test] if c.dictionary_test else [])
        conf = {**to_dict(c.align), "dictionary_test": c.dictionary_test}
        self._stage("align", inputs, conf, [self.path("align/results.json")],
                    lambda: align_stage(c, self.path("prepare"), self.path("pretrain/checkpoint_last.pt"),
                                        self.path("align")))

    # Mining rounds (CRISS): round 1 mines with ``mine.encoder`` and trains from the pretrained LM;
    # round r > 1 re-encodes with round r-1's translation model, mines again and fine-tunes that model.
    # Each round is its own pair of stages in the manifest: mine, train, mine2, train2, ...
    def _start_of_round(self, rnd: int) -> Path:
        """The model round r encodes with (mine) and starts from (train): the LM, then the last round's."""
        return self.path("pretrain/checkpoint_last.pt") if rnd == 1 else \
            self.path(round_name("train", rnd - 1), "checkpoint_last.pt")

    def last_train(self) -> Path:
        rounds = self.cfg.mine.rounds if "mined" in self.cfg.train.warm_start else 1
        return self.path(round_name("train", rounds), "checkpoint_last.pt")

    def mine(self, rnd: int = 1):
        from unmt.mine import mine_stage

        c = self.cfg
        s, t = c.langs
        name = round_name("mine", rnd)
        encoder = c.mine.encoder if rnd == 1 else c.mine.later_encoder
        checkpoint = self._start_of_round(rnd)
        inputs = [self.path("prepare/text"), self.path("align", f"lexicon.{s}-{t}.txt"),
                  self.path("align", f"mapping.{s}-{t}.npy")] + ([checkpoint] if encoder != "lexicon" else [])
        # the round count and later rounds' settings do not change what this round computes
        skip = ("rounds", "round_minutes") + (("later_encoder",) if rnd == 1 else ("encoder",))
        conf = {k: v for k, v in to_dict(c.mine).items() if k not in skip}
        self._stage(name, inputs, {"langs": list(c.langs), "seed": c.seed, "round": rnd, **conf},
                    [self.path(name, f"mined.{s}-{t}.tsv"), self.path(name, "results.json")],
                    lambda: mine_stage(c, self.path("prepare"), self.path("align"), self.path(name), checkpoint,
                                       encoder))

    def train(self, rnd: int = 1, name: str | None = None):
        from unmt.train import train

        c = self.cfg
        name = name or round_name("train", rnd)
        conf = self._training_conf(c.train)
        restore = self._start_of_round(rnd)
        inputs = [self.path("prepare/bin")] + ([restore] if c.train.init_from_pretrain or rnd > 1 else [])
        if "wbw" in c.train.warm_start:
            inputs += [self.path("align", f"lexicon.{s}-{t}.txt") for s, t in (c.langs, c.langs[::-1])]
        mined = self.path(round_name("mine", rnd), "mined.{}-{}.tsv".format(*c.langs))
        if "mined" in c.train.warm_start:
            inputs.append(mined)
        if rnd > 1:
            conf |= {"round": rnd, "round_minutes": c.mine.round_minutes}
        self._stage(name, inputs, conf, [self.path(name, "checkpoint_last.pt")],
                    lambda: {"checkpoint": str(train(c, self.path("prepare"), self.path(name), restore,
                                                     self.path("align"), self.quiet, mined,
                                                     c.mine.round_minutes if rnd > 1 else None))})

    def evaluate(self, train_dir: Path | None = None, name: str = "evaluate"):
        from unmt.evaluate import evaluate_run

        c = self.cfg
        checkpoint = (Path(train_dir) / "checkpoint_last.pt") if train_dir else self.last_train()
        if c.evaluate.checkpoint == "best" and (checkpoint.parent / "checkpoint_best.pt").exists():
            checkpoint = checkpoint.parent / "checkpoint_best.pt"  # best mean dev BLEU (uses the parallel dev set)
        inputs = [checkpoint, self.path("prepare/text")]
        if self.path("align/results.json").exists():
            inputs.append(self.path("align"))
        self._stage(name, inputs, to_dict(c.evaluate), [self.path(name, "results.json")],
                    lambda: evaluate_run(c, self.path("prepare"), checkpoint, self.path("align"),
                                         self.path(name)) and None)

    def compress(self):
        from unmt.compress import compress_stage

        c = self.cfg
        # translation models to code K(Y|X) with: the run's final one, or every ablation variant (last = main)
        if c.ablation:
            models = {v: (self.path(f"train-{v}", "checkpoint_last.pt"), self.path(f"evaluate-{v}")) for v in c.ablation}
        else:
            models = {"final": (self.last_train(), self.path("evaluate"))}
        models = {k: v for k, v in models.items() if v[0].exists()}
        inputs = [self.path("prepare/text"), self.path("prepare/spm.model"), self.path("prepare/bin/dict.txt")]
        for checkpoint, _ in models.values():
            inputs += [checkpoint, checkpoint.parent / "train.log"]
        conf = self._training_conf(c.compress)
        self._stage("compress", inputs, conf, [self.path("compress/results.json")],
                    lambda: compress_stage(c, self.path("prepare"), self.path("compress"), models, self.quiet))

    def ablate(self):
        """Each ``ablation`` variant trains from the same prepare/pretrain/align/mine outputs with its
        own ``train`` overrides and the same update budget, then is scored on the same test set."""
        import copy

        from unmt.ablate import ablation_report
        from unmt.config import _merge

        base = self.cfg
        for variant, overrides in base.ablation.items():
            self.cfg = _merge(copy.deepcopy(base), {"train": overrides}, f"ablation.{variant}")
            self.train(name=f"train-{variant}")
            self.evaluate(self.path(f"train-{variant}"), name=f"evaluate-{variant}")
        self.cfg = base
        ablation_report(self.dir, list(base.ablation), base.langs)

    def _compress_if_enabled(self):
        if self.cfg.compress.enabled:
            self.compress()
            click.echo("\n" + self.path("compress/results.md").read_text())

    def all(self):
        self.prepare()
        self.pretrain()
        self.align()
        if self.cfg.ablation:
            if any("mined" in v.get("warm_start", self.cfg.train.warm_start) for v in self.cfg.ablation.values()):
                self.mine()
            self.ablate()
            self._compress_if_enabled()
            click.echo("\n" + self.path("ablation/results.md").read_text())
            return
        if "mined" in self.cfg.train.warm_start:
            for rnd in range(1, self.cfg.mine.rounds + 1):
                self.mine(rnd)
                self.train(rnd)
        else:  # nothing reads mined pairs
            self.train()
        self.evaluate()
        self._compress_if_enabled()
        table = self.path("evaluate/results.md")
        click.echo("\n" + table.read_text())
        click.echo(f"results: {self.path('evaluate/results.json')}")

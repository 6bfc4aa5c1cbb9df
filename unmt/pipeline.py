"""The recipe runner: each stage reads files, writes files, and is recorded in ``manifest.json``.

    prepare -> pretrain -> align -> train -> evaluate          (mine is available as its own command)

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

STAGES = ("prepare", "pretrain", "align", "train", "evaluate")


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
        conf = {"langs": list(c.langs), "seed": c.seed, "model": to_dict(c.model), **to_dict(c.pretrain)}
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

    def train(self):
        from unmt.train import train

        c = self.cfg
        conf = {"langs": list(c.langs), "seed": c.seed, "model": to_dict(c.model), **to_dict(c.train)}
        inputs = [self.path("prepare/bin")] + ([self.path("pretrain/checkpoint_last.pt")]
                                               if c.train.init_from_pretrain else [])
        if c.train.warm_start == "wbw":
            inputs += [self.path("align", f"lexicon.{s}-{t}.txt") for s, t in (c.langs, c.langs[::-1])]
        self._stage("train", inputs, conf, [self.path("train/checkpoint_last.pt")],
                    lambda: {"checkpoint": str(train(c, self.path("prepare"), self.path("train"),
                                                     self.path("pretrain/checkpoint_last.pt"),
                                                     self.path("align"), self.quiet))})

    def evaluate(self):
        from unmt.evaluate import evaluate_run

        c = self.cfg
        inputs = [self.path("train/checkpoint_last.pt"), self.path("prepare/text")]
        if self.path("align/results.json").exists():
            inputs.append(self.path("align"))
        self._stage("evaluate", inputs, to_dict(c.evaluate), [self.path("evaluate/results.json")],
                    lambda: evaluate_run(c, self.path("prepare"), self.path("train/checkpoint_last.pt"),
                                         self.path("align"), self.path("evaluate")) and None)

    def all(self):
        for name in STAGES:
            getattr(self, name)()
        table = self.path("evaluate/results.md")
        click.echo("\n" + table.read_text())
        click.echo(f"results: {self.path('evaluate/results.json')}")

"""What a stage is: a registered class that declares its config slice, its inputs and outputs (files
named by ``RunLayout``) and how to run. The runner (``unmt/runner.py``) does the rest: order, caching,
locking, recording. fairseq registers tasks the same way (``@register_task``).

    @register_stage("align")
    class Align(Stage):
        help = "..."
        def config(self): ...                 # what its result depends on, besides its input files
        def inputs(self): ...                 # {name: path}: every file or folder it reads
        def outputs(self): ...                # {name: path}: what it leaves for later stages
        def run(self, ctx): ...               # reads ctx.input(name), writes its outputs (in its own folder)
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from unmt.config import DEV_ONLY, RecipeConfig, fingerprint_fields, to_dict
from unmt.errors import UnmtError
from unmt.layout import RunLayout

STAGES: dict[str, type["Stage"]] = {}


def register_stage(kind: str):
    def wrap(cls):
        if kind in STAGES:
            raise ValueError(f"stage '{kind}' is registered twice ({STAGES[kind].__name__}, {cls.__name__})")
        cls.kind = kind
        STAGES[kind] = cls
        return cls
    return wrap


class Stage:
    kind: ClassVar[str] = ""
    help: ClassVar[str] = ""
    resumable: ClassVar[bool] = False   # fairseq stages resume from checkpoint_last.pt; others start clean

    def __init__(self, cfg: RecipeConfig, layout: RunLayout, name: str | None = None):
        self.cfg, self.layout = cfg, layout
        self.name = name or self.kind

    @classmethod
    def validate(cls, cfg: RecipeConfig, where: str) -> None:
        """Checks of this stage's settings that need more than the field types (files that must exist...)."""

    @property
    def dir(self) -> Path:
        return self.layout.dir(self.name)

    def config(self) -> dict:
        raise NotImplementedError

    def inputs(self) -> dict[str, Path]:
        raise NotImplementedError

    def outputs(self) -> dict[str, Path]:
        raise NotImplementedError

    def optional_inputs(self) -> set[str]:
        """Inputs the stage uses when they exist (their absence is part of its fingerprint too)."""
        return set()

    def run(self, ctx: "Context") -> dict | None:
        raise NotImplementedError

    # -- helpers shared by the stage modules -------------------------------------------------------
    def training_config(self, section) -> dict:
        """What a fairseq training stage's result depends on besides its own section (its dev-only fields
        only where dev BLEU picks the checkpoint that is evaluated)."""
        c = self.cfg
        fields = fingerprint_fields(section)
        if c.evaluate.checkpoint != "best":
            fields = {k: v for k, v in fields.items() if k not in DEV_ONLY}
        return {**self.langs_config(), "seed": c.seed, "precision": c.precision, "nproc": c.nproc,
                "model": to_dict(c.model), **fields}

    def langs_config(self) -> dict:
        """Languages and pairs, as a stage's config records them (pairs only when not the default, so a
        bilingual run's records are what they were before recipes named pairs)."""
        from unmt.config import pair_list

        c = self.cfg
        default = [(c.langs[0], o) for o in c.langs[1:]]
        return {"langs": list(c.langs), **({"pairs": list(c.pairs)} if pair_list(c) != default else {})}

    def texts(self, split: str, langs=None) -> dict[str, Path]:
        return {f"{split}.{lang}": self.layout.text(split, lang) for lang in (langs or self.cfg.langs)}

    def __repr__(self) -> str:
        return f"<{self.kind} stage '{self.name}'>"


def jsonable(config: dict) -> dict:
    """The config as the manifest stores it (tuples become lists), so comparisons are like for like."""
    return json.loads(json.dumps(config))


class Context:
    """What ``Stage.run`` sees: its declared input files by name (``input``), the run's layout limited to them
    and to the stage's own folder (``layout``), the manifest, and how loud to be. Asking for a file the
    stage did not declare is a programming error, raised at once."""

    def __init__(self, stage: Stage, quiet: bool, manifest):
        from unmt.layout import DeclaredLayout

        self.stage, self.quiet, self.manifest = stage, quiet, manifest
        self._inputs = stage.inputs()
        self.layout = DeclaredLayout(stage.layout.root, stage.name, [stage.dir], list(self._inputs.values()))

    def input(self, name: str) -> Path:
        if name not in self._inputs:
            raise UnmtError(f"stage {self.stage.name} reads '{name}' without declaring it (declared: "
                            f"{', '.join(self._inputs)})")
        return self._inputs[name]

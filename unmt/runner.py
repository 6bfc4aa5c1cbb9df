"""The recipe runner: build the plan of stage instances from the recipe, then run them in order.

    prepare -> pretrain -> align -> mine -> train [-> mine2 -> train2 ...] [-> supervised] -> evaluate -> lms -> compress
    (ablation recipes: ... -> align [-> mine] -> train-<v> -> evaluate-<v> ... -> ablation -> lms -> compress)

A stage is skipped when its manifest record matches its config slice and the contents of its declared
inputs, and its outputs exist; a stage whose record is stale is wiped and redone. A killed stage has no
record: fairseq stages resume from their ``checkpoint_last.pt`` (if the config they started with is
unchanged), the others start clean. A stage another run folder finished with the same config on inputs of
the same content can be taken from it instead (``Runner.adopt``: ``unmt run --reuse``, a sweep's sibling
runs). One run at a time per folder (``.lock``). With
``UNMT_STRICT_READS=1`` (the tests set it) a stage that opens a file of the run it did not declare fails.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

import click

from unmt.config import RecipeConfig, ablation_variant, same_config
from unmt.errors import UnmtError
from unmt.layout import LAST_CHECKPOINT, RunLayout, round_name
from unmt.manifest import Manifest, cut_short, fingerprint
from unmt.stages import STAGES, Context, Stage
from unmt.stages.base import jsonable


def build_plan(cfg: RecipeConfig, layout: RunLayout) -> list[Stage]:
    """Every stage instance the recipe runs, in dependency order: mining rounds and ablation variants
    are more instances of the same registered stages."""
    S = STAGES
    plan = [S["prepare"](cfg, layout), S["pretrain"](cfg, layout), S["align"](cfg, layout)]
    if cfg.ablation:
        variants = {v: ablation_variant(cfg, v) for v in cfg.ablation}
        if any("mined" in vc.train.warm_start for vc in variants.values()):
            plan.append(S["mine"](cfg, layout))
        for v, vc in variants.items():
            train = S["train"](vc, layout, variant=v)
            plan += [train, S["evaluate"](vc, layout, train_stage=train.name, variant=v)]
        pairs = {v: (f"train-{v}", f"evaluate-{v}") for v in variants}
        plan.append(S["ablation"](cfg, layout, pairs))
        models = pairs
    else:
        mined = "mined" in cfg.train.warm_start
        rounds = cfg.mine.rounds if mined else 1  # nothing reads mined pairs without a mined warm start
        for rnd in range(1, rounds + 1):
            if mined:
                plan.append(S["mine"](cfg, layout, round=rnd))
            plan.append(S["train"](cfg, layout, round=rnd))
        last = round_name("train", rounds)
        if cfg.supervised_ceiling:
            plan.append(S["supervised"](cfg, layout))
        plan.append(S["evaluate"](cfg, layout, train_stage=last))
        models = {"final": (last, "evaluate")}
    if cfg.compress.enabled:
        plan += [S["lms"](cfg, layout), S["compress"](cfg, layout, models)]
    return plan


# -- undeclared reads ----------------------------------------------------------------------------
_GUARD: dict = {"root": None, "allowed": (), "stage": None}


def _audit(event: str, args) -> None:
    if event != "open" or _GUARD["root"] is None:
        return
    path, mode, flags = (tuple(args) + (None, None))[:3]
    if isinstance(path, int) or path is None:
        return
    writing = ("w" in mode or "a" in mode or "x" in mode) if isinstance(mode, str) else \
        bool(flags is not None and (flags & os.O_CREAT or flags & os.O_ACCMODE == os.O_WRONLY))
    if writing:
        return
    p = os.path.abspath(os.fsdecode(path))
    if p.startswith(_GUARD["root"]) and not any(p == a or p.startswith(a + os.sep) for a in _GUARD["allowed"]):
        raise UnmtError(f"stage {_GUARD['stage']} read {p} without declaring it as an input")


@contextlib.contextmanager
def reads_checked(stage: Stage, inputs: dict[str, Path]):
    """Fail a stage that opens a file of the run it did not declare (when UNMT_STRICT_READS=1)."""
    if os.environ.get("UNMT_STRICT_READS") != "1":
        yield
        return
    if not getattr(sys, "_unmt_audit", False):
        sys.addaudithook(_audit)  # a hook cannot be removed: it is installed once and switched by _GUARD
        sys._unmt_audit = True
    L = stage.layout
    _GUARD.update(root=os.path.abspath(L.root) + os.sep, stage=stage.name,
                  allowed=tuple(os.path.abspath(p) for p in [stage.dir, L.manifest, L.lock, *inputs.values()]))
    try:
        yield
    finally:
        _GUARD["root"] = None


HELD_LOCKS: list[int] = []  # file descriptors of the run locks this process holds


@contextlib.contextmanager
def run_lock(layout: RunLayout):
    """One ``unmt`` process at a time in a run folder: a second one says so in one line and stops."""
    import fcntl

    layout.root.mkdir(parents=True, exist_ok=True)
    with open(layout.lock, "a+", encoding="utf-8") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            who = f.read().strip() or "another process"
            raise UnmtError(f"{layout.root}: is in use by another unmt run ({who}) -- wait for it to finish, "
                            "or give another --run-dir") from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}\n")
        f.flush()
        HELD_LOCKS.append(f.fileno())  # fairseq children inherit it: the folder stays locked while one lives
        try:
            yield
        finally:
            HELD_LOCKS.remove(f.fileno())
            fcntl.flock(f, fcntl.LOCK_UN)


class Runner:
    def __init__(self, cfg: RecipeConfig, run_dir: Path, quiet: bool = False, where: str = "recipe"):
        self.cfg, self.quiet = cfg, quiet
        self.layout = RunLayout(run_dir)
        for cls in STAGES.values():  # every recipe is checked before anything runs or is written
            cls.validate(cfg, where)
        self.plan = build_plan(cfg, self.layout)
        self.manifest = Manifest(self.layout.root)

    # -- which stages -------------------------------------------------------------------------------
    def select(self, only: str | None = None, until: str | None = None) -> list[Stage]:
        """``only``: the instances named so (a stage name, e.g. train, or an instance, e.g. mine2);
        ``until``: the plan up to and including the last instance named so."""
        names = [s.name for s in self.plan] + [s.kind for s in self.plan]
        for arg in (only, until):
            if arg is not None and arg not in names:
                raise UnmtError(f"stage '{arg}' is not in this recipe's plan -- choose from "
                                f"{', '.join(dict.fromkeys(s.name for s in self.plan))}")
        if only:
            return [s for s in self.plan if only in (s.name, s.kind)]
        if until:
            last = max(i for i, s in enumerate(self.plan) if until in (s.name, s.kind))
            return self.plan[: last + 1]
        return list(self.plan)

    def producer(self, path: Path) -> Stage | None:
        owner = self.layout.owner(path)
        return next((s for s in self.plan if s.name == owner), None)

    def status(self, stages: list[Stage] | None = None) -> list[tuple[Stage, str | None]]:
        """(stage, why it would run, or None if up to date), in plan order. A stage whose input another
        selected stage produces runs when that one does: its input is about to change."""
        out, running = [], set()
        for st in stages or self.plan:
            inputs = st.inputs()
            upstream = sorted({p.name for p in map(self.producer, inputs.values()) if p and p.name in running})
            missing = [n for n, p in inputs.items() if not Path(p).exists() and n not in st.optional_inputs()]
            if upstream:
                why = f"upstream stage {', '.join(upstream)} runs"
            elif missing:
                why = f"input missing ({', '.join(missing)})"
            else:
                why = self.manifest.why_stale(st.name, fingerprint(inputs), jsonable(st.config()), st.outputs(), inputs)
            if why:
                running.add(st.name)
            out.append((st, why))
        return out

    # -- taking finished stages from another run -----------------------------------------------------
    def adopt(self, sources: list[Path]) -> dict[str, str]:
        """Take each stage that is not up to date here from another run folder that finished it with the same
        config on inputs of the same content (a sweep's sibling runs): the stage would compute what that run
        computed, so its outputs are copied rather than computed again (DVC's run cache, with run folders as
        the cache). Stages go in plan order, so a stage taken makes the next one's inputs the source's. The
        record says where it came from (``adopted_from``); a source another unmt process holds is passed over.
        Returns {stage: source run folder} of the stages taken."""
        taken: dict[str, str] = {}
        with run_lock(self.layout), contextlib.ExitStack() as held:
            self.manifest = Manifest(self.layout.root)
            free = []
            for src in sources:
                if Path(src).resolve() == self.layout.root.resolve() or not RunLayout(src).manifest.exists():
                    continue
                try:
                    held.enter_context(run_lock(RunLayout(src)))
                    free.append(Path(src))
                except UnmtError:
                    continue
            for st in self.plan:
                inputs, config = st.inputs(), jsonable(st.config())
                if any(not Path(p).exists() for n, p in inputs.items() if n not in st.optional_inputs()):
                    continue
                digests = fingerprint(inputs)
                if self.manifest.why_stale(st.name, digests, config, st.outputs(), inputs) is None:
                    continue
                for src in free:
                    rec = Manifest(src).record_of(st.name)
                    src_dir = src / st.dir.relative_to(self.layout.root)
                    if (not rec or rec.get("inputs") != digests or not same_config(rec.get("config", {}), config)
                            or cut_short(rec) or not all((src / o).exists() for o in rec.get("outputs", {}).values())):
                        continue
                    self.manifest.forget(st.name)
                    scratch = st.dir.parent / f".{st.dir.name}.adopting"
                    shutil.rmtree(scratch, ignore_errors=True)
                    shutil.copytree(src_dir, scratch)
                    shutil.rmtree(st.dir, ignore_errors=True)
                    os.replace(scratch, st.dir)  # the stage's folder is whole or absent, never half copied
                    if not all(Path(p).exists() for p in st.outputs().values()):  # an output outside its folder
                        shutil.rmtree(st.dir)
                        continue
                    self.manifest.data["stages"][st.name] = {**rec, "adopted_from": str(src)}
                    self.manifest.save()
                    click.echo(f"[{st.name}] taken from {src} (same config, inputs of the same content)")
                    taken[st.name] = str(src)
                    break
        return taken

    # -- running ------------------------------------------------------------------------------------
    def run(self, stages: list[Stage] | None = None, force: bool = False) -> None:
        stages = stages if stages is not None else self.plan
        with run_lock(self.layout):
            self.manifest = Manifest(self.layout.root)  # as the last run left it, now that we hold the lock
            for st in stages:
                self.execute(st, force)

    def execute(self, st: Stage, force: bool = False) -> None:
        inputs, outputs, config = st.inputs(), st.outputs(), jsonable(st.config())
        missing = [n for n, p in inputs.items() if not Path(p).exists() and n not in st.optional_inputs()]
        if missing:
            p = self.producer(inputs[missing[0]])
            hint = f"run stage {p.name} first (`unmt run RECIPE --until {p.name}`)" if p else "check the recipe's paths"
            raise UnmtError(f"{inputs[missing[0]]}: input '{missing[0]}' of stage {st.name} is missing -- {hint}")
        digests = fingerprint(inputs)  # hashed once: the staleness check, the resume marker and the record
        why = "forced" if force else self.manifest.why_stale(st.name, digests, config, outputs, inputs)
        if why is None:
            click.echo(f"[{st.name}] up to date, skipped (outputs in {st.dir})")
            return
        started_with = {"config": config, "inputs": digests}
        marker = self.layout.started(st.name)
        was = json.loads(marker.read_text()) if st.resumable and marker.exists() else None
        resumable = bool(was) and was.get("inputs") == digests and same_config(was.get("config", {}), config)
        cut = not force and resumable and cut_short(self.manifest.record_of(st.name)) == why  # nothing else changed
        if self.manifest.record_of(st.name) is not None or (st.dir.exists() and not resumable):
            self.manifest.forget(st.name)  # first the record, so a kill from here on leaves no stale claim
            if not cut:  # a stage its safety net cut goes on from its checkpoint; any other starts over
                if st.dir.exists():  # a folder deleted by hand is already gone
                    shutil.rmtree(st.dir)
                resumable = False  # a finished stage run again (forced, or stale) starts over, and says so
        st.dir.mkdir(parents=True, exist_ok=True)
        from unmt.io import write_json

        write_json(marker, started_with)
        click.echo(f"[{st.name}] {'resuming' if resumable else 'running'} ({why}) -> {st.dir}")
        started = time.time()
        try:
            with reads_checked(st, inputs):
                result = st.run(Context(st, self.quiet, self.manifest))
        except BaseException:
            self._clean_after_failure(st)
            raise
        missing = [n for n, p in outputs.items() if not Path(p).exists()]
        if missing:
            raise UnmtError(f"stage {st.name} finished without writing {', '.join(missing)} -- see {st.dir}")
        result = result if isinstance(result, dict) else None
        self.manifest.record(st.name, digests, outputs, config, started, result)
        click.echo(f"[{st.name}] done in {time.time() - started:.0f}s")
        if result and result.get("stopped_by") == "time limit":
            click.echo(f"[{st.name}] note: stopped by its max_minutes safety net at {result['updates']} updates, "
                       "before the recipe's update budget: this run's numbers will not reproduce exactly", err=True)

    def _clean_after_failure(self, st: Stage) -> None:
        """Leave nothing half-written: a fairseq stage keeps what it can resume from, the rest goes."""
        keep = st.resumable and any(st.dir.rglob(LAST_CHECKPOINT))
        if not keep:
            shutil.rmtree(st.dir, ignore_errors=True)
            return
        for tmp in list(st.dir.rglob("*.tmp")):
            with contextlib.suppress(OSError):
                tmp.unlink()

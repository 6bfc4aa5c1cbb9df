"""One recipe over many language pairs: a sweep file names the base recipe and its points (natural pairs,
cipher variants), each run once per seed, as independent jobs through submitit: one after another on this
machine (LocalExecutor: never two trainings at once), or all at once on a Slurm cluster. Either way the
sweep folder holds the same layout:

    SWEEP_DIR/sweep.yaml            the sweep file as run
    SWEEP_DIR/corpora/POINT/        corpora built for the sweep (natural pairs not committed; ciphers;
                                    the sweep's named ``corpora:``, e.g. one with a capped rare language)
    SWEEP_DIR/runs/POINT-sSEED/     one ordinary run folder per point and seed (`unmt run` layout)
    SWEEP_DIR/records/POINT-sSEED.json   a finished run's results and manifest (a few kB, committed): its row
                                    outlives the run folder, and a run whose record stands is not run again
    SWEEP_DIR/jobs/                 submitit's job files and logs
    SWEEP_DIR/results.json, .md     one row per run, written from the runs' own results (or records)

    unmt sweep sweeps/thesis.yaml [--out SWEEP_DIR] [--executor local|slurm] [--only PATTERNS] [--dry-run]
"""
from __future__ import annotations

import dataclasses
import fnmatch
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

from unmt.errors import UnmtError
from unmt.io import write_json, write_results, write_text
from unmt.layout import RunLayout, SweepLayout, corpus_manifest
from unmt.manifest import machine_name, stage_minutes

ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass
class Point:
    """A language pair of the sweep: ``langs`` (a natural pair; its corpus is ``corpus``, else the committed
    corpora/libreoffice-A-B, else built by data_prep.build_corpus) or ``cipher`` (a variant of
    data_prep.cipher, against the sweep's ``cipher_source``; ``domain``: the corpus the domain variant
    ciphers). ``seeds`` replaces the sweep's; ``set`` adds overrides for this point's runs only (say why in
    the sweep file: every other difference between points is a confound); ``control`` names the point it is
    an ablation of, which the report sets it beside, seed by seed (eval/report.py). A point of more than two
    languages is one shared model (``pairs``: which it translates, default the first language with each
    other); its ``corpus`` then names one of the sweep's ``corpora``, which all its runs and its bilingual
    points share."""
    name: str
    langs: list[str] | None = None
    pairs: list[str] | None = None
    cipher: str | None = None
    corpus: str | None = None
    domain: str | None = None
    seeds: list[int] | None = None
    set: dict | None = None
    control: str | None = None


@dataclasses.dataclass
class Sweep:
    name: str
    recipe: str                       # the base recipe: preset, budgets; langs, corpus and seed come per run
    points: list[Point]
    seeds: list[int] = dataclasses.field(default_factory=lambda: [1])
    set: dict = dataclasses.field(default_factory=dict)   # overrides for every run (nested, like a recipe)
    cipher_source: str = "corpora/libreoffice-en-fr"
    # corpora the sweep builds by name: {NAME: {langs: [...], pairs: [...], max_train_lines: {lang: N}}}
    corpora: dict = dataclasses.field(default_factory=dict)
    job_minutes: int = 90             # a job's time limit (submitit timeout_min)
    path: Path = Path(".")

    def runs(self, only: str | None = None) -> list[tuple[Point, int]]:
        """Every (point, seed), breadth first: each point's first seed before any point's second, so a sweep
        stopped part-way has covered as many pairs as it could. ``only``: comma-separated shell patterns of
        run names (``it-shared-s[23]``); the runs that match, in the same order."""
        seeds = [p.seeds or self.seeds for p in self.points]
        runs = [(p, s[i]) for i in range(max(map(len, seeds))) for p, s in zip(self.points, seeds) if i < len(s)]
        if not only:
            return runs
        names = [f"{p.name}-s{seed}" for p, seed in runs]
        patterns = [x.strip() for x in only.split(",") if x.strip()]
        for pattern in patterns:
            if not any(fnmatch.fnmatchcase(n, pattern) for n in names):
                raise UnmtError(f"--only: '{pattern}' matches no run of {self.path}; its runs: {', '.join(names)}")
        return [r for r, n in zip(runs, names) if any(fnmatch.fnmatchcase(n, x) for x in patterns)]

    def resolve(self, value: str) -> Path:
        """A path of the sweep file: relative to the repository root if it exists there, else to the file."""
        p = Path(value)
        if p.is_absolute():
            return p
        return ROOT / p if (ROOT / p).exists() else (self.path.parent / p).resolve()


def load_sweep(path: Path) -> Sweep:
    from data_prep.cipher import VARIANTS

    path = Path(path)
    if not path.exists():
        raise UnmtError(f"{path}: sweep file not found -- see sweeps/thesis.yaml")
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise UnmtError(f"{path}: a sweep is a mapping (name:, recipe:, points:) -- see sweeps/thesis.yaml")
    known = {f.name for f in dataclasses.fields(Sweep)} - {"path"}
    for key in raw:
        if key not in known:
            raise UnmtError(f"{path}: unknown field '{key}' -- a sweep has {', '.join(sorted(known))}")
    for key in ("name", "recipe", "points"):
        if key not in raw:
            raise UnmtError(f"{path}: does not set {key} -- see sweeps/thesis.yaml")
    for name, spec in (raw.get("corpora") or {}).items():
        if not isinstance(spec, dict) or set(spec) - {"langs", "pairs", "max_train_lines"} or not spec.get("langs"):
            raise UnmtError(f"{path}: corpora: {name}: give langs: [...] and optionally pairs: [a-b, ...] and "
                            "max_train_lines: {LANG: N} -- see sweeps/sharing.yaml")
    points, names = [], set()
    fields = {f.name for f in dataclasses.fields(Point)}
    for i, p in enumerate(raw["points"] or []):
        where = f"{path}: points[{i}]"
        if not isinstance(p, dict) or set(p) - fields:
            raise UnmtError(f"{where}: a point is a mapping of {', '.join(sorted(fields))}")
        point = Point(**p) if "name" in p else Point(name=_point_name(p, where), **p)
        if bool(point.langs) == bool(point.cipher):
            raise UnmtError(f"{where} ({point.name}): give langs (a natural pair) or cipher (a variant), one of them")
        if point.langs is not None and (not isinstance(point.langs, list) or len(point.langs) < 2):
            raise UnmtError(f"{where} ({point.name}): langs is two or more language codes, e.g. [es, pt]")
        named = (raw.get("corpora") or {}).get(point.corpus) if isinstance(point.corpus, str) else None
        if point.langs and named and set(point.langs) - set(named["langs"]):
            raise UnmtError(f"{where} ({point.name}): corpus {point.corpus} has no "
                            f"{', '.join(sorted(set(point.langs) - set(named['langs'])))} -- add it to its langs")
        if point.langs and len(point.langs) > 2 and point.corpus not in (raw.get("corpora") or {}):
            raise UnmtError(f"{where} ({point.name}): a point of {len(point.langs)} languages names its corpus "
                            "among the sweep's corpora: (corpus: NAME), so its bilingual points can share it")
        if point.cipher is not None and point.cipher not in VARIANTS:
            raise UnmtError(f"{where} ({point.name}): cipher '{point.cipher}' is not one of {', '.join(VARIANTS)}")
        if point.cipher == "domain" and not point.domain:
            raise UnmtError(f"{where} ({point.name}): the domain variant needs domain: CORPUS (e.g. corpora/bible-en-es)")
        if point.name in names:
            raise UnmtError(f"{where}: name '{point.name}' is given twice -- every point names its run folders")
        names.add(point.name)
        points.append(point)
    if not points:
        raise UnmtError(f"{path}: points: none given -- a sweep runs at least one pair")
    for i, point in enumerate(points):
        if point.control is not None and (point.control not in names or point.control == point.name):
            raise UnmtError(f"{path}: points[{i}] ({point.name}): control '{point.control}' is not another point "
                            f"of this sweep -- name one of {', '.join(sorted(names - {point.name}))}")
    sweep = Sweep(**{k: v for k, v in raw.items() if k != "points"}, points=points, path=path.resolve())
    if not sweep.resolve(sweep.recipe).exists():
        raise UnmtError(f"{path}: recipe: {sweep.recipe} not found")
    for p, seed in sweep.runs():  # every run's recipe is checked before anything runs
        _recipe(sweep, p, seed, Path("corpus-to-build"))
    return sweep


def _point_name(p: dict, where: str) -> str:
    if p.get("langs"):
        return "-".join(map(str, p["langs"]))
    if p.get("cipher"):
        return f"cipher-{p['cipher']}"
    raise UnmtError(f"{where}: give langs (a natural pair) or cipher (a variant)")


def _deep_merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def point_langs(p: Point) -> list[str]:
    from data_prep.cipher import VARIANTS

    return list(p.langs) if p.langs else ["en", VARIANTS[p.cipher]]


def _recipe(sweep: Sweep, p: Point, seed: int, corpus: Path):
    """The base recipe for one run: its langs, corpus and seed, and the corpus's test dictionary if it has
    one (else none: the run says P@1 is not available)."""
    from unmt.config import load_recipe

    langs = point_langs(p)
    if len(langs) == 2:
        dictionary = corpus / f"dict.{langs[0]}-{langs[1]}.test.txt"
        dictionary_test = str(dictionary) if dictionary.exists() else None
    else:  # a pair without its file says P@1 is not available
        dictionary_test = str(corpus / "dict.{pair}.test.txt")
    overrides = _deep_merge(_deep_merge(sweep.set, p.set or {}), {"name": f"{p.name}-s{seed}", "langs": langs,
                                                                   "corpus": str(corpus), "seed": seed,
                                                                   "dictionary_test": dictionary_test})
    if p.pairs:
        overrides["pairs"] = p.pairs
    return load_recipe(sweep.resolve(sweep.recipe), overrides)


def sweep_file_of(folder: Path) -> Path | None:
    """The sweep file a sweep folder ran: its own copy, or, where the folder holds only its records (a new
    checkout: records are committed, the copy is not), the sweep file beside it whose name is the folder's
    (sweeps/NAME.yaml for sweeps/NAME, unmt sweep's default). None for a folder that is not a sweep's."""
    L = SweepLayout(folder)
    if L.sweep_file.exists():
        return L.sweep_file
    if not L.records.is_dir():
        return None
    for f in sorted(Path(folder).parent.glob("*.yaml")):
        try:
            raw = yaml.safe_load(f.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError):
            continue
        if isinstance(raw, dict) and raw.get("name") == Path(folder).resolve().name:
            return f
    return None


# -- corpora ------------------------------------------------------------------------------------------
def corpus_of(sweep: Sweep, p: Point, out: Path) -> Path:
    """Where a point's corpus is (built or not)."""
    if p.corpus in sweep.corpora:
        return SweepLayout(out).corpus(p.corpus)
    if p.corpus:
        return sweep.resolve(p.corpus)
    if p.langs:
        committed = ROOT / "corpora" / f"libreoffice-{p.langs[0]}-{p.langs[1]}"
        if committed.exists():
            return committed
    return SweepLayout(out).corpus(p.name)


def build_corpus(sweep: Sweep, p: Point, out: Path) -> Path:
    """The point's corpus, built once (in the submitting process, so seeds and jobs never race on it)."""
    corpus = corpus_of(sweep, p, out)
    if corpus_manifest(corpus).exists():
        return corpus
    if p.corpus in sweep.corpora:  # a named corpus of the sweep: langs, pairs and caps from its spec
        spec = sweep.corpora[p.corpus]
        extra = (["--pairs", ",".join(spec["pairs"])] if spec.get("pairs") else []) + (
            ["--max-train-lines", ",".join(f"{k}={v}" for k, v in spec["max_train_lines"].items())]
            if spec.get("max_train_lines") else [])
        return _build_natural(corpus, spec["langs"], extra, p.name)
    if p.corpus:
        raise UnmtError(f"{corpus}: corpus not found (points: {p.name}) -- build it or fix corpus:")
    if p.cipher:
        from data_prep.cipher import build_cipher_corpus

        print(f"[sweep] {p.name}: building the {p.cipher} cipher corpus -> {corpus}", flush=True)
        build_cipher_corpus(sweep.resolve(sweep.cipher_source), p.cipher, corpus, seed=1,
                            domain=sweep.resolve(p.domain) if p.domain else None)
        return corpus
    return _build_natural(corpus, p.langs, [], p.name)


def _build_natural(corpus: Path, langs: list[str], extra: list[str], point: str) -> Path:
    print(f"[sweep] {point}: building the corpus from Debian packages -> {corpus}", flush=True)
    cmd = [sys.executable, "-m", "data_prep.build_corpus", "--source", "libreoffice", "--langs", ",".join(langs),
           *extra, "--out", str(corpus)]
    r = subprocess.run(cmd, cwd=ROOT)
    if r.returncode != 0:
        raise UnmtError(f"{corpus}: building the corpus of {point} failed -- run `{' '.join(cmd)}` to see why")
    return corpus


# -- jobs ---------------------------------------------------------------------------------------------
def run_point(sweep_file: str, point: str, seed: int, out: str) -> str:
    """One job: the base recipe on one point and seed, in its own run folder (resumes if killed)."""
    from unmt.runner import Runner

    sweep = load_sweep(Path(sweep_file))
    p = next(x for x in sweep.points if x.name == point)
    cfg = _recipe(sweep, p, seed, corpus_of(sweep, p, Path(out)))
    run_dir = SweepLayout(out).run(p.name, seed)
    runner = Runner(cfg, run_dir)
    # a stage another run of the sweep finished with the same config on the same inputs (the shared prepare
    # and pretrain of points that differ later on) is taken from it, not computed again
    runner.adopt(sorted(SweepLayout(out).runs.glob("*")))
    runner.run()  # its progress lines go to the job's log (SWEEP_DIR/jobs)
    write_record(run_dir, SweepLayout(out).record(p.name, seed), [st.name for st in runner.plan])
    return str(run_dir)


# -- records: what outlives a run folder --------------------------------------------------------------
def run_files(run_dir: Path, record: Path | None = None) -> dict:
    """What a run's row is made from: its compress and evaluate results and its manifest, read from its
    folder, else (the folder gone: a new checkout, a cleaned disk) from its record."""
    L = RunLayout(run_dir)
    files = {"compress": _read(L.results("compress")), "evaluate": _read(L.results("evaluate")),
             "manifest": _read(L.manifest)}
    if files["manifest"] is None and record is not None and record.exists():
        return {k: v for k, v in _read(record).items() if k in files}
    return files


def write_record(run_dir: Path, record: Path, stages: list[str]) -> None:
    """Keep a finished run's files: every stage of its plan (``stages``) recorded in its manifest; and its
    test translations beside the record (write_outputs)."""
    files = run_files(run_dir)
    done = (files["manifest"] or {}).get("stages", {})
    if files["evaluate"] and all(name in done for name in stages):
        write_json(record, {"run": run_dir.name, **files})
        write_outputs(run_dir, SweepLayout(record.parent.parent).outputs_of(run_dir))


def write_outputs(run_dir: Path, archive: Path) -> None:
    """A run's test translations (unmt and word-by-word, as its evaluate stage wrote them) in one xz tar, so
    that a run whose folder is gone can still be read and rescored (sacrebleu's advice: keep the system
    outputs). The same files give the same bytes (no dates, owners or pax headers): rewriting it leaves git
    no diff."""
    import io
    import lzma
    import tarfile

    from unmt.io import atomic_path

    files = sorted(f for f in RunLayout(run_dir).dir("evaluate").glob("test.*-*.*.*")
                   if f.name.split(".")[2] in ("hyp", "wbw"))
    if not files:
        return
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for f in files:
            data = f.read_bytes()
            info = tarfile.TarInfo(f.name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    with atomic_path(archive) as tmp:
        tmp.write_bytes(lzma.compress(tar_bytes.getvalue(), preset=9))


def run_output(run_dir: Path, name: str, archive: Path | None = None) -> list[str] | None:
    """The lines of one test translation of a run (``test.SRC-TGT.hyp.TGT``): from its evaluate folder, else
    (the folder gone) from the outputs kept beside its record; None where neither has it."""
    import io
    import lzma
    import tarfile

    from unmt.io import read_lines

    path = RunLayout(run_dir).dir("evaluate") / name
    if path.exists():
        return read_lines(path, "test translations")
    if archive is None or not archive.exists():
        return None
    try:
        with tarfile.open(archive, mode="r:xz") as tar:
            member = next((m for m in tar.getmembers() if m.name == name), None)
            data = tar.extractfile(member).read() if member else None
    except (tarfile.TarError, lzma.LZMAError, EOFError):
        raise UnmtError(f"{archive}: is not a readable xz tar -- restore it from git, or delete it") from None
    if data is None:
        return None
    return [line.rstrip("\n") for line in io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")]  # as read_lines


def plan_of(sweep: Sweep, p: Point, seed: int, out: Path) -> list[str]:
    """The names of the stages a point's run goes through (compress only where the recipe enables it)."""
    from unmt.runner import Runner

    cfg = _recipe(sweep, p, seed, corpus_of(sweep, p, out))
    return [st.name for st in Runner(cfg, SweepLayout(out).run(p.name, seed), quiet=True).plan]


def record_stands(cfg, run_dir: Path, record: Path) -> str | None:
    """None if ``record`` is of this very run, so it need not run again: every stage of its plan recorded with
    the same config, none cut short, and every input from outside the run (the corpus, the dictionary)
    with the same digest. Else why not. Inputs the run makes itself are not compared: they are gone with
    the folder, and they follow from the config and these."""
    from unmt.config import same_config
    from unmt.manifest import cut_short, digest
    from unmt.runner import Runner
    from unmt.stages.base import jsonable

    if not record.exists():
        return "no record"
    stages = (_read(record).get("manifest") or {}).get("stages", {})
    runner = Runner(cfg, run_dir, quiet=True)
    digests: dict[Path, str] = {}  # a corpus file read by several stages is hashed once
    for st in runner.plan:
        rec = stages.get(st.name)
        if rec is None:
            return f"no record of stage {st.name}"
        if not same_config(rec.get("config", {}), jsonable(st.config())):
            return f"stage {st.name}: config changed"
        if cut_short(rec):
            return f"stage {st.name}: {cut_short(rec)}"
        outside = {n: p for n, p in st.inputs().items() if runner.producer(Path(p)) is None and Path(p).exists()}
        for path in map(Path, outside.values()):
            if path not in digests:
                digests[path] = digest(path)
        changed = [n for n, path in sorted(outside.items()) if rec.get("inputs", {}).get(n) != digests[Path(path)]]
        if changed:
            return f"stage {st.name}: input changed ({', '.join(changed)})"
    return None


def executor(kind: str, folder: Path, minutes: int, partition: str | None = None):
    import submitit

    if kind == "local":
        ex = submitit.LocalExecutor(folder=str(folder))
        ex.update_parameters(timeout_min=minutes)
    elif kind == "slurm":
        ex = submitit.AutoExecutor(folder=str(folder), cluster="slurm")
        ex.update_parameters(timeout_min=minutes, cpus_per_task=8, gpus_per_node=1,
                             **({"slurm_partition": partition} if partition else {}))
    else:
        raise UnmtError(f"--executor: '{kind}' is not local or slurm")
    return ex


def job_error(e: Exception) -> str:
    """The line that says why a job failed: the last ``...Error: ...`` of its traceback (submitit wraps it)."""
    lines = [l.strip() for l in str(e).splitlines() if l.strip()]
    said = [l for l in lines if "Error: " in l or "Error(" in l]
    return (said or lines or ["failed"])[-1][:300]


def run_sweep(sweep: Sweep, out: Path, kind: str = "local", partition: str | None = None,
              only: str | None = None) -> dict:
    """Run every (point, seed) as a job (``only``: those that match, see Sweep.runs), building the corpora it
    needs, then gather the table of every run there is. Local jobs run one at a time; Slurm jobs are
    submitted together. A failed job is reported and the sweep goes on; run the sweep again to retry it
    (finished runs are up to date, killed ones resume)."""
    out = out.resolve()  # the jobs may start elsewhere
    L = SweepLayout(out)
    write_text(L.sweep_file, sweep.path.read_text(encoding="utf-8"))

    def finished_before(p: Point, seed: int) -> bool:  # its corpus built: a record is checked against it
        cfg = _recipe(sweep, p, seed, corpus_of(sweep, p, out))
        why = record_stands(cfg, L.run(p.name, seed), L.record(p.name, seed))
        if why is None:
            print(f"[sweep] {p.name}-s{seed}: finished before ({L.record(p.name, seed)}), not run again", flush=True)
        elif L.record(p.name, seed).exists():
            print(f"[sweep] {p.name}-s{seed}: its record does not stand ({why}), run again", flush=True)
        return why is None

    runs = sweep.runs(only)
    if kind != "local":  # jobs run at once: every corpus first, so no two jobs build one
        for p in [p for p in sweep.points if any(q is p for q, _ in runs)]:
            build_corpus(sweep, p, out)
        runs = [(p, seed) for p, seed in runs if not finished_before(p, seed)]
    ex = executor(kind, L.jobs, sweep.job_minutes, partition)
    failed = {}
    args = [(str(sweep.path), p.name, seed, str(out)) for p, seed in runs]
    if kind == "local":
        for i, ((p, seed), a) in enumerate(zip(runs, args), 1):
            started = time.time()
            try:
                build_corpus(sweep, p, out)  # one job at a time: each point's corpus just before its first run
            except UnmtError as e:
                failed[f"{a[1]}-s{a[2]}"] = str(e)
                print(f"[sweep] {a[1]}-s{a[2]}: FAILED: {e}", flush=True)
                continue
            if finished_before(p, seed):
                continue
            job = ex.submit(run_point, *a)
            print(f"[sweep] {i}/{len(args)} {a[1]}-s{a[2]}: job {job.job_id}, progress in {job.paths.stdout}", flush=True)
            try:
                job.result()
                print(f"[sweep] {a[1]}-s{a[2]}: done in {(time.time() - started) / 60:.1f} min", flush=True)
            except Exception as e:  # noqa: BLE001 -- a failed run is a row that says so, not the sweep's end
                failed[f"{a[1]}-s{a[2]}"] = job_error(e)
                print(f"[sweep] {a[1]}-s{a[2]}: FAILED: {failed[f'{a[1]}-s{a[2]}']}", flush=True)
    elif args:
        jobs = ex.map_array(run_point, *zip(*args))
        print(f"[sweep] submitted {len(jobs)} jobs to Slurm (logs in {out / 'jobs'})", flush=True)
        for a, job in zip(args, jobs):
            try:
                job.result()
            except Exception as e:  # noqa: BLE001
                failed[f"{a[1]}-s{a[2]}"] = job_error(e)
    return gather(sweep, out, failed)


# -- the table ----------------------------------------------------------------------------------------
def _read(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _given_over_alone(rec: dict) -> float:
    """K(Y|X)/K(Y) from a conditional record ({bits_per_char, "K(Y)_bits_per_char", ...})."""
    alone = next(v for k, v in rec.items() if k.startswith("K(") and k.endswith(")_bits_per_char"))
    return round(rec["bits_per_char"] / alone, 4)


def run_row(run_dir: Path, point: Point, seed: int, record: Path | None = None) -> dict:
    """One run's numbers, from its own results files, or its record where its folder is gone (None where a
    stage did not finish)."""
    langs = point_langs(point)
    row = {"point": point.name, "seed": seed, "kind": "cipher" if point.cipher else "natural",
           "langs": langs, "run": run_dir.name}
    files = run_files(run_dir, record)
    compress, evaluate = files["compress"], files["evaluate"]
    manifest = files["manifest"] or {"stages": {}}
    row["minutes"] = round(sum(map(stage_minutes, manifest["stages"].values())), 1)
    # where those minutes were spent (stages recorded before machines were: not known)
    row["machine"] = " + ".join(sorted({machine_name(st["machine"]) for st in manifest["stages"].values()
                                         if "machine" in st})) or None
    if compress:
        saving = compress["code_length"]["saving"]
        row["joint_saving_bits_per_char"], row["joint_saving_fraction"] = saving["bits_per_char"], saving["fraction"]
        # K(Y) beside K(Y|X) only where the LMs measured the test set (compress.heldout: test)
        cond = {k: v for k, v in compress.get("conditional", {}).items()
                if isinstance(v, dict) and "information_from_source_bits_per_char" in v}
        row["information_from_source"] = {k: v["information_from_source_bits_per_char"] for k, v in cond.items()}
        row["conditional_fraction"] = {k: _given_over_alone(v) for k, v in cond.items()}
    if evaluate:
        row["directions"] = {d: {name: {"bleu": s["bleu"], "chrf": s["chrf"]} for name, s in systems.items()}
                             for d, systems in evaluate["directions"].items()}
        p1 = evaluate.get("lexicon_p@1") or {}
        row["lexicon_p@1"] = {d: v for d, v in p1.items() if v is not None} or None
    return row


def gather(sweep: Sweep, out: Path, failed: dict | None = None) -> dict:
    rows, L = [], SweepLayout(out)
    for p, seed in sweep.runs():
        if L.run(p.name, seed).exists():  # runs finished before records were kept, or run again by hand
            try:
                plan = plan_of(sweep, p, seed, out)
            except UnmtError:  # its corpus gone since: the record there is, is kept
                plan = None
            if plan is not None:
                write_record(L.run(p.name, seed), L.record(p.name, seed), plan)
        row = run_row(L.run(p.name, seed), p, seed, L.record(p.name, seed))
        if failed and row["run"] in failed:
            row["failed"] = failed[row["run"]]
        rows.append(row)
    result = {"sweep": sweep.name, "recipe": sweep.recipe, "rows": rows}
    write_results(SweepLayout(out).results(), result)
    write_text(SweepLayout(out).results("md"), sweep_table(result))
    return result


def _fmt(x, spec=".2f") -> str:
    return "–" if x is None else format(x, spec)


def sweep_table(result: dict) -> str:
    lines = [f"Sweep `{result['sweep']}` (recipe `{result['recipe']}`): one row per run. Joint saving "
             "K(X)+K(Y)-K(X,Y) of LMs of equal compute on the monolingual sides; BLEU both ways (mean), the "
             "better of copy and word-by-word, the supervised ceiling where the corpus has translations.", "",
             "| run | kind | joint saving bits/char (%) | BLEU a→b / b→a | chrF mean | best baseline BLEU | ceiling BLEU | lexicon P@1 | minutes |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        if "directions" not in r:
            lines.append(f"| {r['run']} | {r['kind']} | {r.get('failed', 'not finished')} | | | | | | {r.get('minutes', '')} |")
            continue
        ds = list(r["directions"].values())
        bleu = [d["unmt"]["bleu"] for d in ds]
        chrf = sum(d["unmt"]["chrf"] for d in ds) / len(ds)
        base = sum(max(v["bleu"] for k, v in d.items() if k in ("copy", "word-by-word")) for d in ds) / len(ds)
        ceiling = [d["supervised"]["bleu"] for d in ds if "supervised" in d]
        p1 = r.get("lexicon_p@1")
        saving = (f"{r['joint_saving_bits_per_char']:.4f} ({100 * r['joint_saving_fraction']:.1f}%)"
                  if "joint_saving_bits_per_char" in r else "–")  # compress off in its recipe, or not run yet
        lines.append(f"| {r['run']} | {r['kind']} | {saving} | {' / '.join(_fmt(b) for b in bleu)} | {chrf:.2f} | "
                     f"{base:.2f} | {_fmt(sum(ceiling) / len(ceiling)) if ceiling else '–'} | "
                     f"{' / '.join(_fmt(v) for v in p1.values()) if p1 else 'not available'} | {r['minutes']} |")
    return "\n".join(lines) + "\n"

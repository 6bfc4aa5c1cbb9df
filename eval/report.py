"""Write runs' result tables into docs/results.md (one section per run, from the run's own JSON) and the
README's two tables (the default recipe's expected numbers, every run at a glance) from docs/results.md,
so published numbers never drift from what the code produced.

    python -m eval.report runs/default [runs/en-zh ...]   # a section per run (others' sections kept), then README
    python -m eval.report sweeps/sharing                  # a sweep's sections (runs from folders or records)
    python -m eval.report                                 # README's tables again from docs/results.md
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from eval.language_id import format_share, target_share
from unmt.io import write_text

# README blocks written here: the default recipe's table, every run of docs/results.md at a glance, and the
# sweeps' sharing experiments
BLOCKS = ("default", "glance", "sharing")
# the sections of docs/results.md the README's default table reads: the default recipe in bf16 and in fp32
DEFAULT_BF16, DEFAULT_FP32 = "default-bf16", "default"


def _figure(png: Path, run_dir: Path, title: str) -> str:
    """Copy a run's PNG under docs/img/ (runs/ is not committed) and return its Markdown embed."""
    import shutil

    dest = Path("docs/img") / f"{run_dir.name}-{png.name}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(png, dest)
    return f"![{title}](img/{dest.name})"


def precision_used(run_dir: Path) -> str:
    """What the fairseq stages really ran in, from their command lines (bf16 is fp32 on CPUs without bf16)."""
    from unmt.layout import RunLayout

    flags = {w for p in RunLayout(run_dir).commands() for w in p.read_text().split()}
    for flag, name in (("--cpu-bf16", "bf16 autocast on CPU"), ("--bf16", "bf16"), ("--fp16", "fp16")):
        if flag in flags:
            return name
    return "fp32"


def update_budgets(run_dir: Path, stages: dict) -> str:
    """How many updates each fairseq stage trained, from its checkpoint, against its recipe's budget: a
    stage cut short by its max_minutes safety net is said to be, since its numbers then depend on the
    machine's speed."""
    from unmt.fairseq_run import checkpoint_progress
    from unmt.layout import RunLayout

    layout, parts, cut = RunLayout(run_dir), [], []
    for name, rec in stages.items():
        budget = rec.get("config", {}).get("round_updates") or rec.get("config", {}).get("max_update")
        if budget is None or not layout.checkpoint(name).exists():
            continue
        done, _ = checkpoint_progress(layout.checkpoint(name))
        parts.append(f"{name} {done}/{budget}")
        if done < budget:
            cut.append(name)
    if not parts:
        return ""
    text = "Updates trained / budget: " + ", ".join(parts) + "."
    if cut:
        return text + f" **{', '.join(cut)} stopped early on the max_minutes safety net**: those numbers depend on this machine's speed."
    return text + " Every fairseq stage ran its full update budget, so the numbers do not depend on the machine's speed."


def baseline_verdict(results: dict) -> str:
    """Whether unmt beats both baselines in every direction, in BLEU and in chrF (which can disagree: a
    word-for-word rendering with a good lexicon scores well in chrF), and by how much it beats the better one."""
    def margins(metric):
        return {d: s["unmt"][metric] - max(v[metric] for k, v in s.items() if k in ("copy", "word-by-word"))
                for d, s in results["directions"].items()}

    bleu, chrf = margins("bleu"), margins("chrf")
    said = lambda m: "yes" if all(v > 0 for v in m.values()) else "no"  # noqa: E731
    return (f"**Beats both baselines in every direction: in BLEU {said(bleu)}, in chrF {said(chrf)}** (test BLEU of "
            "unmt minus the better baseline: " + ", ".join(f"{d} {m:+.2f}" for d, m in bleu.items()) + "; in chrF: "
            + ", ".join(f"{d} {m:+.2f}" for d, m in chrf.items()) + ").")


def run_summary(run_dir: Path) -> str:
    from unmt.evaluate import results_table
    from unmt.layout import RunLayout
    from unmt.manifest import stage_minutes

    L = RunLayout(run_dir)
    manifest = json.loads(L.manifest.read_text())
    stages = manifest["stages"]
    minutes = sum(map(stage_minutes, stages.values()))
    timing = ", ".join(f"{k} {stage_minutes(v):.1f}" for k, v in stages.items())
    versions = stages[list(stages)[-1]]["versions"]
    # the ceiling is a stage a recipe adds (supervised_ceiling: true): say what the recipe costs without it
    ceiling = (f"; {minutes - stage_minutes(stages['supervised']):.1f} without the supervised ceiling"
               if "supervised" in stages else "")
    out = [f"Run `{run_dir}` ({'-'.join(stages['prepare']['config'].get('langs', []))}), "
           f"{minutes:.1f} minutes of stage time ({timing} min{ceiling}), training in {precision_used(run_dir)}, "
           f"versions: {', '.join(f'{k} {v}' for k, v in versions.items())}. {update_budgets(run_dir, stages)}", ""]
    if L.results("evaluate").exists():
        results = json.loads(L.results("evaluate").read_text())
        out += [baseline_verdict(results), "", results_table(results)]
    if L.results("ablation", "md").exists():
        out += ["Ablation (same data, same update budget):", "", L.results("ablation", "md").read_text(),
                _figure(L.figure("ablation", "dev_bleu"), run_dir, "dev BLEU over updates per variant"), ""]
    lex = L.results("align", "md")
    if lex.exists():
        out += ["Lexicon induction (align stage):", "", lex.read_text()]
        if L.figure("align", "lexicon_curve").exists():
            out += [_figure(L.figure("align", "lexicon_curve"), run_dir, "P@1 and selection criterion per iteration"), ""]
    for mined in L.stage_results("mine*"):
        out += [f"Bitext mining, stage `{mined.parent.name}` (P/R/F1 of recovering the dev pairs planted among "
                "training sentences):", "", mined.read_text()]
    if L.results("compress", "md").exists():
        out += ["Code lengths (compress stage):", "", L.results("compress", "md").read_text(),
                _figure(L.figure("compress", "compression"), run_dir, "code lengths over LM updates; K(Y|X) vs dev BLEU"), ""]
        if L.figure("compress", "saving_vs_bleu").exists():
            out += [_figure(L.figure("compress", "saving_vs_bleu"), run_dir, "per-pair joint saving vs that pair's test BLEU"), ""]
    return "\n".join(out)


def run_json(run: Path) -> dict:
    """A run's manifest and its evaluate and compress results ({name: dict or None}): from its folder, or,
    for a sweep's run whose folder is gone (a new checkout), from the sweep's record of it."""
    from unmt.layout import SweepLayout
    from unmt.sweep import run_files

    run = Path(run)
    sweep = SweepLayout(run.parent.parent)
    record = sweep.record_of(run) if run.parent == sweep.runs else None
    files = run_files(run, record)
    if files.get("manifest") is None:
        from unmt.errors import UnmtError

        raise UnmtError(f"{run}: neither a run folder (no manifest) nor a sweep folder (no sweep.yaml) -- give "
                        "runs/NAME or sweeps/NAME")
    return files


def run_langs(run: Path) -> list[str]:
    return run_json(run)["manifest"]["stages"]["prepare"]["config"].get("langs", [])


def model_seed_and_decoding(run: Path) -> tuple[str, object, str]:
    """The model a run's train stage built, its seed and how its evaluate stage decoded (beam, length
    penalty, n-gram blocking): two runs compare only where all three are the same, so that a run decoded with
    blocking is never set beside one decoded without."""
    stages = run_json(run)["manifest"]["stages"]
    train = (stages.get("train") or {}).get("config", {})
    evaluate = (stages.get("evaluate") or {}).get("config", {})
    # runs evaluated before evaluate.no_repeat_ngram existed decoded without blocking
    decoding = {"beam": evaluate.get("beam"), "lenpen": evaluate.get("lenpen"),
                "no_repeat_ngram": evaluate.get("no_repeat_ngram", 0)}
    return json.dumps(train.get("model"), sort_keys=True), train.get("seed"), json.dumps(decoding, sort_keys=True)


def tests_and_scores(run: Path) -> tuple[dict, dict | None]:
    """A run's test files (name -> sha256, as its prepare stage read them) and its evaluate stage's scores per
    direction (None: not evaluated): two runs compare only on the same test files."""
    files = run_json(run)
    tests = {k: v for k, v in files["manifest"]["stages"]["prepare"]["inputs"].items() if k.startswith("corpus:test.")}
    return tests, (files["evaluate"] or {}).get("directions")


def translation_examples(run: Path) -> dict[str, int] | None:
    """Sentences each translation direction trained on in a run's train stage (back-translation, warm start,
    mined pairs), from its manifest; None where the run did not record them (runs before 2026-12-03)."""
    stages = run_json(run)["manifest"]["stages"]
    held = ((stages.get("train") or {}).get("result") or {}).get("examples_per_direction")
    if not held:
        return None
    return {d: sum(kinds.get(k, 0) for k in ("bt", "warm", "mined"))
            for d, kinds in held["examples"].items() if d.split("-")[0] != d.split("-")[1]}


def comparison_line(ratios: list[float]) -> str:
    """Which comparison a sharing table makes, from each direction's examples shared / alone."""
    if not ratios:
        return ("Comparison: equal total updates; the runs did not record examples per direction, so how much "
                "each direction trained on is not known.")
    lo, hi = min(ratios), max(ratios)
    if lo >= 0.95 and hi <= 1.05:
        return (f"Comparison: **equal per-direction compute**: each direction trained on as many examples in the "
                f"multilingual run as alone ({lo:.2f}-{hi:.2f} times).")
    return (f"Comparison: **equal total updates**, not equal per-direction compute: a direction of the "
            f"multilingual run trained on {lo:.2f}-{hi:.2f} times the examples it had alone, so this table alone "
            "cannot say sharing helps or hurts.")


def sharing_summary(multi: Path, bilinguals: list[Path]) -> str | None:
    """Where sharing helps and where it hurts: each direction of the multilingual run beside the same pair
    trained alone on the same corpus (same test sentences: the prepare stages read identical test files),
    with the examples each direction trained on in both, which say what comparison the table makes."""
    from unmt.layout import RunLayout, SweepLayout
    from unmt.sweep import run_output

    def in_target(run, direction):  # from the hypotheses, among the multilingual run's languages for both runs
        hyp = RunLayout(run).hypotheses("evaluate", *direction.split("-"))
        lines = run_output(run, hyp.name, SweepLayout(run.parent.parent).outputs_of(run))
        if lines is not None:
            return target_share(lines, direction.split("-")[1], langs)
        said = ((run_json(run)["evaluate"] or {}).get("directions", {}).get(direction, {}).get("unmt") or {})
        if "on_target" in said:  # folder and outputs gone: its evaluate stage's share, among its own languages
            own.add(Path(run).name)
        return said.get("on_target")

    own: set[str] = set()
    multi_tests, multi_dirs = tests_and_scores(multi)
    multi_examples = translation_examples(multi) or {}
    langs = run_langs(multi)
    rows = ["| direction | multilingual BLEU | alone BLEU | multilingual chrF | alone chrF | better baseline BLEU / chrF | "
            "in target language % multilingual / alone | supervised BLEU multilingual / alone | examples multilingual "
            "/ alone | sharing |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    compared, ratios = [], []
    for run in bilinguals:
        tests, dirs = tests_and_scores(run)
        if not dirs or not multi_dirs or any(multi_tests.get(k) != v for k, v in tests.items()):
            continue
        compared.append(run.name)
        alone_examples = translation_examples(run) or {}
        for direction, systems in dirs.items():
            if direction not in multi_dirs:
                continue
            m, b = multi_dirs[direction]["unmt"], systems["unmt"]
            base = [systems[x] for x in ("copy", "word-by-word") if x in systems]
            verdict = "helps" if m["bleu"] > b["bleu"] and m["chrf"] > b["chrf"] else \
                "hurts" if m["bleu"] < b["bleu"] and m["chrf"] < b["chrf"] else "mixed"
            shares = " / ".join(format_share(in_target(r, direction)) for r in (multi, run))
            # the ceilings, where both runs trained one: does sharing cost the supervised model as much?
            ceilings = " / ".join(str(d[direction]["supervised"]["bleu"]) if "supervised" in d[direction] else "-"
                                  for d in (multi_dirs, dirs))
            ex = [multi_examples.get(direction), alone_examples.get(direction)]
            if all(ex):
                ratios.append(ex[0] / ex[1])
            rows.append(f"| {direction} | {m['bleu']} | {b['bleu']} | {m['chrf']} | {b['chrf']} | "
                        f"{max(x['bleu'] for x in base)} / {max(x['chrf'] for x in base)} | {shares} | {ceilings} | "
                        f"{' / '.join(str(x) if x else '-' for x in ex)} | {verdict} |")
    if not compared:
        return None
    return (f"`{multi}` against each pair trained alone on the same corpus and test sentences "
            f"({', '.join(f'`{c}`' for c in compared)}). {comparison_line(ratios)} \"Examples\": sentences "
            "the direction's train stage learned from (back-translations, warm-start and mined pairs). \"helps\": "
            "higher BLEU and chrF. \"In target language\": share of the "
            "output lines langid.py assigns to the target language among the multilingual run's languages "
            "(eval/language_id.py), for both runs" + (f" (for {', '.join(f'`{r}`' for r in sorted(own))}, whose "
            "test translations are gone with its folder: the share its evaluate stage measured among its own "
            "languages)" if own else "")
            + ". \"Supervised\": each run's supervised ceiling (same model, start and "
            "updates on the true translations), where it trained one.\n\n" + "\n".join(rows) + "\n")


def seed_stem(run: Path) -> str:
    """A run's name without its seed (``gl-shared-s2`` -> ``gl-shared``): the runs of one setting."""
    return re.sub(r"-s\d+$", "", Path(run).name)


def gain_interval(shared: list[float], alone: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean of shared minus mean of alone, and its Welch t interval over the seeds (each side's seeds are
    independent runs: no pairing between seed s alone and seed s shared)."""
    import numpy as np
    from scipy import stats

    a, b = np.asarray(shared, float), np.asarray(alone, float)
    gain = a.mean() - b.mean()
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = (va + vb) ** 0.5
    if se == 0:
        return round(gain, 2), round(gain, 2), round(gain, 2)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = stats.t.ppf(0.5 + level / 2, df) * se
    return round(gain, 2), round(gain - half, 2), round(gain + half, 2)


def sharing_seeds_summary(shared: list[Path], alone: list[Path]) -> str | None:
    """One shared setting against one bilingual setting over their seeds: per direction both translate, the
    mean BLEU and chrF of each, the gain with its 95% interval, and whether each beats both baselines (in
    every seed); the examples each direction trained on say which comparison it is."""
    from statistics import mean

    s_runs, a_runs = [tests_and_scores(r) for r in shared], [tests_and_scores(r) for r in alone]
    if any(s_runs[0][0].get(k) != v for tests, _ in a_runs for k, v in tests.items()):
        return None  # another corpus or other test sentences: not comparable
    # a seed not evaluated yet (its run still going) is left out, and so not named in the header
    shared = [r for r, (_, d) in zip(shared, s_runs) if d]
    alone = [r for r, (_, d) in zip(alone, a_runs) if d]
    s_dirs, a_dirs = [d for _, d in s_runs if d], [d for _, d in a_runs if d]
    if len(s_dirs) < 2 or len(a_dirs) < 2:
        return None
    common = [d for d in a_dirs[0] if all(d in x for x in s_dirs + a_dirs)]
    if not common:
        return None
    ratios = []
    for s_run, a_run in zip(shared, alone):
        s_ex, a_ex = translation_examples(s_run) or {}, translation_examples(a_run) or {}
        ratios += [s_ex[d] / a_ex[d] for d in common if s_ex.get(d) and a_ex.get(d)]
    rows = ["| direction | metric | alone (mean of seeds) | shared | gain [95% interval] | beats both baselines: alone / "
            "shared (seeds) |", "|---|---|---|---|---|---|"]
    kept = all("translated_lines" in sy for x in s_dirs + a_dirs for d in common for sy in x[d].values())

    def score(systems, metric):  # "kept_bleu": BLEU on the lines whose reference is translated
        return systems["translated_lines"]["bleu"] if metric == "kept_bleu" else systems[metric]
    for d in common:
        for metric in ("bleu", "chrf") + (("kept_bleu",) if kept else ()):
            a = [score(x[d]["unmt"], metric) for x in a_dirs]
            s = [score(x[d]["unmt"], metric) for x in s_dirs]
            gain, lo, hi = gain_interval(s, a)

            def beats(runs):
                return sum(all(score(r[d]["unmt"], metric) > score(r[d][b], metric) for b in ("copy", "word-by-word")
                               if b in r[d]) for r in runs)
            name = {"bleu": "BLEU", "chrf": "chrF", "kept_bleu": "BLEU, translated lines"}[metric]
            rows.append(f"| {d} | {name} | {mean(a):.2f} | "
                        f"{mean(s):.2f} | {gain:+.2f} [{lo:+.2f}, {hi:+.2f}] | {beats(a_dirs)}/{len(a_dirs)} / "
                        f"{beats(s_dirs)}/{len(s_dirs)} |")
    names = lambda runs: ", ".join(f"`{Path(r).name}`" for r in runs)  # noqa: E731
    return (f"{names(shared)} (shared) against {names(alone)} (alone), {len(s_dirs)} and {len(a_dirs)} seeds, same "
            f"corpus and test sentences. {pair_resource(shared[0], run_langs(alone[0]))} {comparison_line(ratios)} "
            "The interval is Welch's t over the seeds (each "
            "setting's seeds are independent runs); \"above zero\" means its lower end is."
            + (" \"Translated lines\": the test lines whose reference is not the source again." if kept else "")
            + "\n\n" + "\n".join(rows) + "\n")


def pair_resource(shared: Path, langs: list[str]) -> str:
    """Whether a pair is the shared run's rare pair (a language of it has under half the training lines of the
    shared run's largest side, as a capped rare language has) or a high-resource one: the two have different
    targets (the README's sharing lines)."""
    counts = {k[len("train."):]: v for k, v in (run_json(shared)["manifest"]["stages"]["prepare"].get("result") or {})
              .items() if k.startswith("train.") and isinstance(v, int)}
    if not counts or not set(langs) <= set(counts):
        return "Training lines per language not recorded: whether the pair is rare is not known."
    rare = [l for l in langs if counts[l] < max(counts.values()) / 2]
    sides = ", ".join(f"{l} {counts[l]:,}" for l in langs)
    if rare:
        return (f"Rare pair: {'-'.join(langs)} (training lines {sides}; the shared run's largest side "
                f"{max(counts.values()):,}).")
    return f"High-resource pair: {'-'.join(langs)} (training lines {sides}; none under half the largest side)."


def seed_summaries(run_dirs) -> dict[str, str]:
    """A shared setting run with several seeds, beside each bilingual setting with several seeds on the same
    test sentences: {section name: the gain with its interval over the seeds}."""
    groups: dict[str, list[Path]] = {}
    for d in run_dirs:
        groups.setdefault(seed_stem(d), []).append(Path(d))
    out = {}
    for stem, runs in groups.items():
        if len(runs) < 2 or len(run_langs(runs[0])) <= 2:
            continue
        for other, alone in groups.items():
            a, s = model_seed_and_decoding(alone[0]), model_seed_and_decoding(runs[0])
            same_setting = (a[0], a[2]) == (s[0], s[2])  # the seeds differ by design
            seeds = sharing_seeds_summary(runs, alone) if other != stem and len(alone) >= 2 and same_setting else None
            if seeds:
                out[f"sharing over seeds: {stem} vs {other}"] = seeds
    return out


def read_sections(results_md: str | Path) -> dict[str, str]:
    """docs/results.md as {section name: body}, in file order."""
    sections: dict[str, str] = {}
    if Path(results_md).exists():
        for part in re.split(r"^## ", Path(results_md).read_text(encoding="utf-8"), flags=re.M)[1:]:
            name, _, body = part.partition("\n")
            sections[name.strip()] = body.strip("\n")
    return sections


_RUN_LINE = re.compile(r"([\d.]+) minutes of stage time \(([^)]*?) min(?:; ([\d.]+) without the supervised ceiling)?\), "
                       r"training in ([^,]+),")
_ROW = re.compile(r"^\| (\S+?-\S+?) \| (unmt|copy|word-by-word|supervised) \| ([\d.]+) \| ([\d.]+) \|")


def section_facts(body: str) -> dict | None:
    """What the README needs from one section run_summary wrote: minutes (with and without the ceiling),
    each stage's minutes, the precision, and the first results table as {direction: {system: (BLEU, chrF)}}.
    None for a section without a test table (lexicon-only runs, ablations, sharing comparisons)."""
    head = _RUN_LINE.search(body.split("\n", 1)[0])
    table: dict[str, dict[str, tuple[float, float]]] = {}
    in_table = False
    for line in body.splitlines():
        if line.startswith("| direction | system | BLEU | chrF |"):
            if table:
                break
            in_table = True
        elif in_table and (m := _ROW.match(line)):
            table.setdefault(m[1], {})[m[2]] = (float(m[3]), float(m[4]))
        elif in_table and not line.startswith("|"):
            break
    if not head or not table:
        return None
    stages = {k: float(v) for k, v in (part.rsplit(" ", 1) for part in head[2].split(", "))}
    total = float(head[1])
    # the ceiling is a stage a recipe adds: minutes are the recipe's without it
    minutes = float(head[3]) if head[3] else round(total - stages.get("supervised", 0.0), 1)
    return {"minutes": minutes, "minutes_with_ceiling": total, "stages": stages,
            "precision": "bf16" if "bf16" in head[4] else head[4], "table": table}


def _arrow(direction: str) -> str:
    return direction.replace("-", "→", 1)


def default_block(sections: dict[str, str]) -> str:
    """The default recipe's test scores beside its baselines and ceiling, in bf16 and in fp32, with minutes."""
    runs = [(name, facts) for name in (DEFAULT_BF16, DEFAULT_FP32)
            if name in sections and (facts := section_facts(sections[name]))]
    if not runs:
        return "No run of the default recipe is recorded in docs/results.md yet."
    header = "| direction | system | " + " | ".join(f"BLEU / chrF, {f['precision']} run" for _, f in runs) + " |"
    rows = [header, "|---|---|" + "---|" * len(runs)]
    for direction in runs[0][1]["table"]:
        for system in ("unmt", "copy", "word-by-word", "supervised"):
            cells = [f["table"].get(direction, {}).get(system) for _, f in runs]
            if any(cells):
                rows.append(f"| {_arrow(direction)} | {system} | "
                            + " | ".join(f"{c[0]:.2f} / {c[1]:.2f}" if c else "-" for c in cells) + " |")
    timing = []
    for name, f in runs:
        biggest = max(f["stages"], key=f["stages"].get)
        timing.append(f"{f['minutes']:.1f} minutes of stage time in {f['precision']} ({biggest} {f['stages'][biggest]:.1f} "
                      f"of them; section [{name}](docs/results.md#{name}))")
    return ("\n".join(rows) + "\n\nOn 2 CPU cores: " + "; ".join(timing) + ". Copy and word-by-word are the "
            "baselines, supervised the ceiling (same model and budget on true translations). BLEU and chrF are "
            "sacrebleu's; signatures and tokenized BLEU are in the sections.")


def glance_block(sections: dict[str, str]) -> str:
    """Every run of docs/results.md with a test table: minutes, precision, unmt per direction, and in how many
    directions it beats both baselines."""
    rows = ["| run | minutes¹ | training | unmt BLEU / chrF per direction | above both baselines: BLEU, chrF |",
            "|---|---|---|---|---|"]
    for name, body in sections.items():
        f = section_facts(body)
        if f is None:
            continue
        scores, wins = [], [0, 0]
        for direction, systems in f["table"].items():
            bleu, chrf = systems["unmt"]
            scores.append(f"{_arrow(direction)} {bleu:.2f} / {chrf:.2f}")
            base = [v for k, v in systems.items() if k in ("copy", "word-by-word")]
            wins[0] += all(bleu > b[0] for b in base)
            wins[1] += all(chrf > b[1] for b in base)
        n = len(f["table"])
        rows.append(f"| [{name}](docs/results.md#{name}) | {f['minutes']:.1f} | {f['precision']} | "
                    f"{' · '.join(scores)} | {wins[0]}/{n}, {wins[1]}/{n} |")
    return "\n".join(rows) + ("\n\n¹ Stage time on 2 CPU cores, without the supervised ceiling. Sections named "
                               "`-identical`, `-context` or `-unrestricted` are earlier settings of a recipe, kept for "
                               "comparison.")


def recipes_block(sections: dict[str, str], root: str | Path = "recipes") -> str:
    """One row per recipe file: its first comment line, languages, and its run's last measured minutes and
    unmt BLEU from docs/results.md (the section named after the recipe's run)."""
    from unmt.config import load_recipe

    root = Path(root)
    rows = ["| recipe | what it shows | languages | minutes¹ | last measured: unmt BLEU (ceiling recipes: supervised) |",
            "|---|---|---|---|---|"]
    files = sorted(root.rglob("*.yaml"), key=lambda p: (len(p.relative_to(root).parts) > 1, str(p)))
    for path in files:
        rel = path.relative_to(root).as_posix()
        cfg = load_recipe(path)
        first = path.read_text(encoding="utf-8").splitlines()[0]
        summary = first.lstrip("# ").strip() if first.startswith("#") else ""
        facts = section_facts(sections[cfg.name]) if cfg.name in sections else None
        system = "supervised" if cfg.supervised_ceiling else "unmt"
        if facts:
            minutes = facts["minutes_with_ceiling" if cfg.supervised_ceiling else "minutes"]
            scores = [f"{_arrow(d)} {s[system][0]:.2f}" for d, s in facts["table"].items() if system in s]
            measured = f"[{' · '.join(scores) or 'see section'}](../docs/results.md#{cfg.name})"
        elif cfg.name in sections:
            minutes, measured = None, f"[no test table: see section](../docs/results.md#{cfg.name})"
        else:
            minutes, measured = None, "tests only" if rel.startswith("tests/") else "not measured"
        rows.append(f"| [{rel}]({rel}) | {summary} | {', '.join(cfg.langs)} | "
                    f"{'-' if minutes is None else f'{minutes:.1f}'} | {measured} |")
    return "\n".join(rows) + ("\n\n¹ Stage time of the run published in docs/results.md, on 2 CPU cores "
                               "(its section says which precision).")


# (sections written before the translated-lines column have one column less)
_SWEEP_ROW = re.compile(r"^\| (\S*) \| (\S+) \| .* \| (yes|no), (yes|no) \|(?: [^|]* \|)? [^|]* \| [^|]* \|$")
_GAIN_ROW = re.compile(r"^\| (\S+) \| (BLEU|chrF) \| [\d.]+ \| [\d.]+ \| ([+-][\d.]+) \[([+-][\d.]+), ([+-][\d.]+)\] "
                       r"\| \d+/\d+ / (\d+)/(\d+) \|$")
_SHARED_ROW = re.compile(r"^\| (\S+-\S+) \| ([\d.]+) \| ([\d.]+) \| [\d.]+ \| [\d.]+ \|")


def _comparison(body: str) -> str:
    return next((c for c in ("equal per-direction compute", "equal total updates") if f"**{c}**" in body),
                "comparison not known")


# the docs/results.md section that judges every sharing experiment against its target
TARGETS = "sharing targets, met or not"


def sharing_lines(sections: dict[str, str]) -> list[str]:
    """The sweeps' sharing experiments judged against their targets, from their docs/results.md sections: per
    shared setting over seeds, the rare pair's gain with its interval against the target; per shared run, how
    much each other direction lost at the comparison it made (a run whose every compared pair has a line over
    seeds is left to those lines); per sweep, which runs beat both baselines."""
    swept: dict[str, list[str]] = {}  # sweep -> its runs, from its table
    for name, body in sections.items():
        if name.startswith("sweep: "):
            swept[name[len("sweep: "):]] = [m[1] for line in body.splitlines()
                                              if (m := _SWEEP_ROW.match(line)) and m[1]]
    runs = {r for names in swept.values() for r in names}
    lines, rare, over_seeds = [], {}, {}  # shared setting -> its rare directions; -> every direction over seeds
    for name, body in sections.items():
        if not name.startswith("sharing over seeds: "):
            continue
        shared, alone = name[len("sharing over seeds: "):].split(" vs ")
        if not any(seed_stem(r) == shared for r in runs):
            continue
        gains = [m for line in body.splitlines() if (m := _GAIN_ROW.match(line))]
        high = "High-resource pair:" in body
        if "Rare pair:" in body:
            rare.setdefault(shared, set()).update(g[1] for g in gains)
        over_seeds.setdefault(shared, set()).update(g[1] for g in gains)
        seeds = re.search(r"(\d+) and (\d+) seeds", body)

        def said(metric):
            return ", ".join(f"{_arrow(g[1])} {g[3]} [{g[4]}, {g[5]}]" for g in gains if g[2] == metric)
        bleu = [g for g in gains if g[2] == "BLEU"]
        line = (f"- **{shared} against {alone}** ({_comparison(body)}, {seeds[1]} and {seeds[2]} seeds): "
                f"gain in BLEU {said('BLEU')}; in chrF {said('chrF')} (95% intervals). ")
        if high:  # a high-resource pair: the target is that sharing costs it little
            met = bleu and all(float(g[3]) >= -1 for g in bleu)
            line += f"Target (no direction loses over 1 BLEU, mean of seeds): **{'met' if met else 'not met'}**."
        elif "Rare pair:" not in body:
            line += "Target not judged: the shared run did not record its training lines per language."
        else:
            met = bleu and all(float(g[3]) >= 3 and float(g[4]) > 0 and g[6] == g[7] for g in bleu)
            line += (f"{shared} beats both baselines in BLEU in " + ", ".join(f"{_arrow(g[1])} {g[6]}/{g[7]}" for g in bleu)
                     + " seeds. Target (+3 BLEU both ways, interval above zero, both baselines beaten): "
                     f"**{'met' if met else 'not met'}**.")
        lines.append(line)
    for name, body in sections.items():
        if not (name.startswith("sharing: ") and name.endswith(" vs each pair alone")):
            continue
        multi = name[len("sharing: "):-len(" vs each pair alone")]
        if multi not in runs:
            continue
        diffs = {m[1]: float(m[2]) - float(m[3]) for line in body.splitlines() if (m := _SHARED_ROW.match(line))}
        if diffs and set(diffs) <= over_seeds.get(seed_stem(multi), set()):
            continue  # every pair it compares has a line over seeds, which gives the same with an interval
        line = (f"- **{multi} against each pair alone** ({_comparison(body)}): BLEU shared minus alone "
                + ", ".join(f"{_arrow(d)} {v:+.2f}" for d, v in diffs.items()) + ".")
        # the rare pair is the one compared over seeds; the target is on every other (high-resource) direction
        others = [v for d, v in diffs.items() if d not in rare.get(seed_stem(multi), {d})]
        if others and _comparison(body) == "equal per-direction compute":
            line += (" Target for the other directions (none loses over 1 BLEU): "
                     f"**{'met' if min(others) >= -1 else 'not met'}**.")
        lines.append(line)
    for sweep, names in swept.items():
        body = sections[f"sweep: {sweep}"]
        verdict: dict[str, bool] = {}
        current = None
        for line in body.splitlines():
            if m := _SWEEP_ROW.match(line):
                current = m[1] or current
                verdict[current] = verdict.get(current, True) and m[3] == m[4] == "yes"
        wins = [r for r, ok in verdict.items() if ok]
        lines.append(f"- **Sweep {sweep}**: {len(wins)} of {len(verdict)} evaluated runs beat both baselines in BLEU and "
                     f"chrF in every direction{': ' + ', '.join(wins) if wins else ''}.")
    return lines


def sharing_block(sections: dict[str, str]) -> str:
    """The README's lines on the sweeps' sharing experiments (sharing_lines)."""
    lines = sharing_lines(sections)
    if not lines:
        return "No sharing experiment is recorded in docs/results.md yet."
    # a blank line between items: each is read (and held to the README's 150 words) as a paragraph of its own
    return "\n\n".join(lines) + "\n\nEvery table: [docs/results.md](docs/results.md) (`python -m eval.report SWEEP_DIR`)."


def replace_block(text: str, name: str, block: str) -> str:
    """``text`` with its ``<!-- NAME:start -->...<!-- NAME:end -->`` block holding ``block``."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    return re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: f"{start}\n{block}\n{end}", text, flags=re.S)


def write_readme(readme: str | Path, sections: dict[str, str]) -> None:
    """Replace each generated block of the README with its table."""
    text = Path(readme).read_text(encoding="utf-8")
    for name, block in (("default", default_block(sections)), ("glance", glance_block(sections)),
                        ("sharing", sharing_block(sections))):
        text = replace_block(text, name, block)
    write_text(readme, text)


def write_recipes_index(index: Path, sections: dict[str, str], root: Path | None = None) -> None:
    """The generated table of recipes/README.md (of the recipes under ``root``, default: the index's
    folder), between its ``<!-- recipes:start/end -->`` markers."""
    if not index.exists():
        return
    block = recipes_block(sections, root or index.parent)
    write_text(index, replace_block(index.read_text(encoding="utf-8"), "recipes", block))


def is_sweep(folder: Path) -> bool:
    """A sweep's folder (unmt/sweep.py), not a run's: a sweep file goes with it (unmt.sweep.sweep_file_of), and
    it has no manifest."""
    from unmt.layout import RunLayout
    from unmt.sweep import sweep_file_of

    return sweep_file_of(folder) is not None and not RunLayout(folder).manifest.exists()


def sweep_points(folder: Path) -> list[dict]:
    """The points of a sweep folder's sweep file, as written there."""
    import yaml

    from unmt.sweep import sweep_file_of

    raw = yaml.safe_load(sweep_file_of(folder).read_text(encoding="utf-8")) or {}
    return [p for p in raw.get("points", []) if isinstance(p, dict)]


def sweep_runs(folder: Path) -> list[Path]:
    """Every run of a sweep folder with a record or an evaluated run folder, as its run folder's path (the
    folder may be gone: the record stands in), in the order of the sweep file's points, then by seed. A run
    still training is left out: a new checkout, which has the records only, writes the same tables. So is a
    run a stage of which its max_minutes safety net cut before the update budget: its scores are not of the
    budget its point names, and the next `unmt sweep` resumes it."""
    from unmt.layout import RunLayout, SweepLayout
    from unmt.manifest import cut_short, under_way

    def finished(run):  # no stage under way in its folder, none cut by its safety net (folder or record)
        stages = run_json(run)["manifest"]["stages"]
        return not under_way(run, stages) and not any(cut_short(rec) for rec in stages.values())

    L = SweepLayout(folder)
    names = {p.name for p in L.runs.glob("*") if RunLayout(p).results("evaluate").exists()}
    names |= {p.stem for p in L.records.glob("*.json")}
    names = {n for n in names if finished(L.runs / n)}
    order = {p.get("name"): i for i, p in enumerate(sweep_points(folder))}

    def key(name):
        stem, _, seed = re.fullmatch(r"(.*?)(-s(\d+))?", name).groups()
        return order.get(stem, len(order)), stem, int(seed or 0)
    return [L.runs / n for n in sorted(names, key=key)]


def sweep_summary(folder: Path, runs: list[Path]) -> str:
    """A sweep's runs, one row per run and direction: unmt beside both baselines, whether it beats both, the
    examples the direction trained on, the run's minutes (from each run's folder, or its record)."""
    from unmt.manifest import stage_minutes

    rows = ["| run | direction | unmt BLEU / chrF | copy BLEU / chrF | word-by-word BLEU / chrF | above both "
            "baselines: BLEU, chrF | BLEU on translated lines²: unmt / copy / word-by-word | examples | minutes¹ |",
            "|---|---|---|---|---|---|---|---|---|"]
    taken = []  # stages a run took from another (unmt.runner.Runner.adopt)
    for run in runs:
        files = run_json(run)
        minutes = sum(map(stage_minutes, files["manifest"]["stages"].values()))
        sources: dict[str, list[str]] = {}
        for stage, rec in files["manifest"]["stages"].items():
            if rec.get("adopted_from"):
                sources.setdefault(Path(rec["adopted_from"]).name, []).append(stage)
        taken += [f"{run.name}: {', '.join(stages)} from {src}" for src, stages in sources.items()]
        examples = translation_examples(run) or {}
        directions = (files["evaluate"] or {}).get("directions")
        if not directions:
            rows.append(f"| {run.name} | not evaluated | | | | | | | {minutes:.1f} |")
            continue
        for i, (d, systems) in enumerate(directions.items()):
            u = systems["unmt"]
            base = [systems[b] for b in ("copy", "word-by-word") if b in systems]
            pair = lambda s: f"{s['bleu']:.2f} / {s['chrf']:.2f}" if s else "-"  # noqa: E731
            above = ", ".join("yes" if all(u[m] > b[m] for b in base) else "no" for m in ("bleu", "chrf"))
            kept = " / ".join(f"{systems[x]['translated_lines']['bleu']:.2f}" if "translated_lines" in systems.get(x, {})
                              else "-" for x in ("unmt", "copy", "word-by-word"))
            rows.append(f"| {run.name if i == 0 else ''} | {_arrow(d)} | {pair(u)} | {pair(systems.get('copy'))} | "
                        f"{pair(systems.get('word-by-word'))} | {above} | {kept} | {examples.get(d, '-')} | "
                        f"{f'{minutes:.1f}' if i == 0 else ''} |")
    return (f"Sweep `{folder}` (`unmt sweep`; its sweep file is `{folder}/sweep.yaml`), {len(runs)} runs, each "
            "from its run folder or, where that is gone, its record. \"Examples\": sentences the direction's train "
            "stage learned from.\n\n" + "\n".join(rows) + "\n\n¹ Stage time on 2 CPU cores. ² The test lines whose "
            "reference is not the source again (LibreOffice leaves some help in English; copying scores 100 on the "
            "rest); `-` for runs evaluated before it was measured.\n" + (
                "\nStages a run took from another run of the sweep that had finished them with the same config on "
                "inputs of the same content (`unmt.runner.Runner.adopt`; their minutes are the source's, the time "
                "the stage takes): " + "; ".join(taken) + ".\n" if taken else ""))


def sweep_sections(folder: Path) -> dict[str, str]:
    """What a sweep adds to docs/results.md: its runs' table; each shared run beside the pairs alone of the
    same seed, model and decoding; each shared setting beside a bilingual one over their seeds."""
    runs = sweep_runs(folder)
    if not runs:
        from unmt.errors import UnmtError

        raise UnmtError(f"{folder}: no run of this sweep is evaluated or has a record yet -- run unmt sweep first")
    out = {f"sweep: {Path(folder).name}": sweep_summary(Path(folder), runs)}
    langs, setting = {r: run_langs(r) for r in runs}, {r: model_seed_and_decoding(r) for r in runs}  # each record read once
    for multi in runs:
        if len(langs[multi]) <= 2 or not run_json(multi)["evaluate"]:
            continue
        alone = [r for r in runs if len(langs[r]) == 2 and setting[r] == setting[multi]]
        sharing = alone and sharing_summary(multi, alone)
        if sharing:
            out[f"sharing: {multi.name} vs each pair alone"] = sharing
    out.update(seed_summaries(runs))
    controls = {p["name"]: p["control"] for p in sweep_points(folder) if p.get("name") and p.get("control")}
    against = controls and control_summary(runs, controls)
    if against:
        out[f"sweep {Path(folder).name}: each point against its control"] = against
    return out


def control_summary(runs: list[Path], controls: dict[str, str]) -> str | None:
    """Each run of a point with a control (the sweep file's ``control:``) beside the control's run of the same
    seed, on the test sentences both read, in the directions both translate: unmt and word-by-word each with
    its change, so a change that lifts unmt can be told from one that lifts the lexicon both use."""
    by_name = {r.name: r for r in runs}
    rows = ["| run | against | translation updates | direction | unmt BLEU | unmt chrF | word-by-word BLEU | "
            "word-by-word chrF | above both baselines: BLEU, chrF |", "|---|---|---|---|---|---|---|---|---|"]

    def updates(run):  # every translation-training stage: a later mining round's fine-tuning adds to the first
        stages = run_json(run)["manifest"]["stages"]
        return sum((rec.get("result") or {}).get("updates", 0) for name, rec in stages.items()
                   if re.fullmatch(r"train\d*", name))
    for run in runs:
        stem = seed_stem(run)
        control = by_name.get(controls.get(stem, "") + run.name[len(stem):])
        if control is None:
            continue
        (tests, mine), (theirs_tests, theirs) = tests_and_scores(run), tests_and_scores(control)
        if not mine or not theirs or any(theirs_tests.get(k, v) != v for k, v in tests.items()):
            continue  # not evaluated yet, or other test sentences: no comparison
        for i, d in enumerate(x for x in mine if x in theirs):
            u, c = mine[d], theirs[d]

            def cell(system, metric):
                if system not in u or system not in c:
                    return "-"
                return f"{u[system][metric]:.2f} ({u[system][metric] - c[system][metric]:+.2f})"
            base = [u[b] for b in ("copy", "word-by-word") if b in u]
            above = ", ".join("yes" if all(u["unmt"][m] > b[m] for b in base) else "no" for m in ("bleu", "chrf"))
            more = updates(run) - updates(control)
            rows.append(f"| {run.name if i == 0 else ''} | {control.name if i == 0 else ''} | "
                        f"{f'{updates(run)} ({more:+d})' if i == 0 else ''} | {_arrow(d)} | "
                        f"{cell('unmt', 'bleu')} | {cell('unmt', 'chrf')} | {cell('word-by-word', 'bleu')} | "
                        f"{cell('word-by-word', 'chrf')} | {above} |")
    if len(rows) == 2:
        return None
    return ("Each run beside its control's run of the same seed (the sweep file's `control:`), same test sentences: "
            "a score, and in brackets that score minus the control's. Word-by-word translates with the run's own "
            "induced lexicon, so a change that only improves the lexicon lifts both columns. \"Translation "
            "updates\": of every UNMT training stage (a later mining round fine-tunes on: more compute than the "
            "control).\n\n"
            + "\n".join(rows) + "\n")


def main(*run_dirs: str, readme: str = "README.md", results_md: str = "docs/results.md") -> None:
    """docs/results.md gets one section per run given (a sweep folder: its sections, sweep_sections), keeping
    the sections of runs not given (so re-running one recipe does not drop the others' published numbers);
    then the README's tables are written from it."""
    sweeps = [Path(d) for d in run_dirs if is_sweep(Path(d))]
    run_dirs = tuple(d for d in run_dirs if Path(d) not in sweeps)
    for d in run_dirs:  # every argument checked before anything is written
        run_json(Path(d))
    summaries = {Path(d).name: run_summary(Path(d)) for d in run_dirs}
    for d in run_dirs:  # a multilingual run given with bilingual runs on its corpus: where sharing helps or hurts
        if len(run_langs(Path(d))) > 2:
            others = [Path(o) for o in run_dirs if o != d]
            sharing = others and sharing_summary(Path(d), others)
            if sharing:
                summaries[f"sharing: {Path(d).name} vs each pair alone"] = sharing
    summaries.update(seed_summaries(run_dirs))
    for folder in sweeps:
        summaries.update(sweep_sections(folder))
    sections = read_sections(results_md)
    if summaries:
        header = "# Results\n\nWritten by `python -m eval.report` from each run's own JSON.\n\n"
        # a section's parts may be empty (no compress stage, no lexicon); one blank line between blocks, so
        # rewriting a section leaves no diff but its numbers
        sections.update({name: re.sub(r"\n{3,}", "\n\n", body).strip("\n") for name, body in summaries.items()})
        if targets := sharing_lines(sections):  # the verdicts beside the tables they are judged from
            sections[TARGETS] = ("Each sharing experiment against its target, judged from this file's sweep and "
                                 "sharing sections (the README's sharing lines say the same); what was tried for "
                                 "each, with its numbers: [findings.md](findings.md).\n\n" + "\n\n".join(targets))
        write_text(results_md, header + "\n\n".join(f"## {name}\n\n{body}" for name, body in sections.items()) + "\n")
    write_readme(readme, sections)
    write_recipes_index(Path(readme).parent / "recipes" / "README.md", sections)
    print("\n\n".join(summaries.values()) or f"{readme}: tables written from {results_md}")


if __name__ == "__main__":
    from unmt.errors import UnmtError

    try:
        main(*sys.argv[1:])
    except UnmtError as e:  # a bad argument: one line that names it, no traceback (as unmt's CLI does)
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)

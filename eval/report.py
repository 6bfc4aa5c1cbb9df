"""Write a run's result tables into README.md (between markers) and docs/results.md, from the run's
own JSON, so published numbers never drift from what the code produced.

    python -m eval.report runs/default [runs/en-zh ...]   # README gets runs/default's; docs/results.md a
                                                          # section per run (others' sections kept)
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from eval.language_id import format_share, target_share
from unmt.io import read_lines, write_text

START, END = "<!-- results:start -->", "<!-- results:end -->"


def _figure(png: Path, run_dir: Path, title: str) -> str:
    """Copy a run's PNG under docs/img/ (runs/ is not committed) and return its Markdown embed."""
    import shutil

    dest = Path("docs/img") / f"{run_dir.name}-{png.name}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(png, dest)
    return f"![{title}](img/{dest.name})"


def precision_used(run_dir: Path) -> str:
    """What the fairseq stages really ran in, from their command lines (bf16 is fp32 on CPUs without bf16)."""
    flags = {w for p in run_dir.glob("*/command.txt") for w in p.read_text().split()}
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

    manifest = json.loads((run_dir / "manifest.json").read_text())
    stages = manifest["stages"]
    minutes = sum(s["seconds"] for s in stages.values()) / 60
    timing = ", ".join(f"{k} {v['seconds'] / 60:.1f}" for k, v in stages.items())
    versions = stages[list(stages)[-1]]["versions"]
    # the ceiling is a stage a recipe adds (supervised_ceiling: true): say what the recipe costs without it
    ceiling = (f"; {minutes - stages['supervised']['seconds'] / 60:.1f} without the supervised ceiling"
               if "supervised" in stages else "")
    out = [f"Run `{run_dir}` ({'-'.join(stages['prepare']['config'].get('langs', []))}), "
           f"{minutes:.1f} minutes of stage time ({timing} min{ceiling}), training in {precision_used(run_dir)}, "
           f"versions: {', '.join(f'{k} {v}' for k, v in versions.items())}. {update_budgets(run_dir, stages)}", ""]
    if (run_dir / "evaluate/results.json").exists():
        results = json.loads((run_dir / "evaluate/results.json").read_text())
        out += [baseline_verdict(results), "", results_table(results)]
    if (run_dir / "ablation/results.md").exists():
        out += ["Ablation (same data, same update budget):", "", (run_dir / "ablation/results.md").read_text(),
                _figure(run_dir / "ablation/dev_bleu.png", run_dir, "dev BLEU over updates per variant"), ""]
    lex = run_dir / "align/results.md"
    if lex.exists():
        out += ["Lexicon induction (align stage):", "", lex.read_text()]
        if (run_dir / "align/lexicon_curve.png").exists():
            out += [_figure(run_dir / "align/lexicon_curve.png", run_dir, "P@1 and selection criterion per iteration"), ""]
    for mined in sorted(run_dir.glob("mine*/results.md")):
        out += [f"Bitext mining, stage `{mined.parent.name}` (P/R/F1 of recovering the dev pairs planted among "
                "training sentences):", "", mined.read_text()]
    if (run_dir / "compress/results.md").exists():
        out += ["Code lengths (compress stage):", "", (run_dir / "compress/results.md").read_text(),
                _figure(run_dir / "compress/compression.png", run_dir, "code lengths over LM updates; K(Y|X) vs dev BLEU"), ""]
        if (run_dir / "compress/saving_vs_bleu.png").exists():
            out += [_figure(run_dir / "compress/saving_vs_bleu.png", run_dir, "per-pair joint saving vs that pair's test BLEU"), ""]
    return "\n".join(out)


def sharing_summary(multi: Path, bilinguals: list[Path]) -> str | None:
    """Where sharing helps and where it hurts: each direction of the multilingual run beside the same pair
    trained alone on the same corpus (same test sentences: the prepare stages read identical test files)."""
    def load(run):
        manifest = json.loads((run / "manifest.json").read_text())
        tests = {k: v for k, v in manifest["stages"]["prepare"]["inputs"].items() if k.startswith("corpus:test.")}
        results = run / "evaluate/results.json"
        return tests, json.loads(results.read_text())["directions"] if results.exists() else None

    def in_target(run, direction):  # from the hypotheses, among the multilingual run's languages for both runs
        tgt = direction.split("-")[1]
        hyp = run / "evaluate" / f"test.{direction}.hyp.{tgt}"
        return target_share(read_lines(hyp, "hypotheses"), tgt, langs) if hyp.exists() else None

    multi_tests, multi_dirs = load(multi)
    langs = json.loads((multi / "manifest.json").read_text())["stages"]["prepare"]["config"]["langs"]
    rows = ["| direction | multilingual BLEU | alone BLEU | multilingual chrF | alone chrF | better baseline BLEU / chrF | "
            "in target language % multilingual / alone | supervised BLEU multilingual / alone | sharing |",
            "|---|---|---|---|---|---|---|---|---|"]
    compared = []
    for run in bilinguals:
        tests, dirs = load(run)
        if not dirs or not multi_dirs or any(multi_tests.get(k) != v for k, v in tests.items()):
            continue
        compared.append(run.name)
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
            rows.append(f"| {direction} | {m['bleu']} | {b['bleu']} | {m['chrf']} | {b['chrf']} | "
                        f"{max(x['bleu'] for x in base)} / {max(x['chrf'] for x in base)} | {shares} | {ceilings} | "
                        f"{verdict} |")
    if not compared:
        return None
    return (f"`{multi}` against each pair trained alone on the same corpus and test sentences "
            f"({', '.join(f'`runs/{c}`' for c in compared)}); same preset budget per run (the multilingual run's "
            "batches are split across its pairs). \"helps\": higher BLEU and chrF. \"In target language\": share of the "
            "output lines langid.py assigns to the target language among the multilingual run's languages "
            "(eval/language_id.py), for both runs. \"Supervised\": each run's supervised ceiling (same model, start and "
            "updates on the true translations), where it trained one.\n\n" + "\n".join(rows) + "\n")


def main(*run_dirs: str, readme: str = "README.md", results_md: str = "docs/results.md") -> None:
    """README gets the default recipe's summary (a run folder named ``default``), if it is among them;
    docs/results.md gets one section per run, keeping the sections of runs not given (so re-running one
    recipe does not drop the others' published numbers)."""
    summaries = {Path(d).name: run_summary(Path(d)) for d in run_dirs}
    for d in run_dirs:  # a multilingual run given with bilingual runs on its corpus: where sharing helps or hurts
        manifest = json.loads((Path(d) / "manifest.json").read_text())
        if len(manifest["stages"]["prepare"]["config"].get("langs", [])) > 2:
            others = [Path(o) for o in run_dirs if o != d]
            sharing = others and sharing_summary(Path(d), others)
            if sharing:
                summaries[f"sharing: {Path(d).name} vs each pair alone"] = sharing
    if "default" in summaries:
        text = Path(readme).read_text(encoding="utf-8")
        block = f"{START}\n{summaries['default']}\n{END}"
        text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
        write_text(readme, text)
    header = "# Results\n\nWritten by `python -m eval.report` from each run's own JSON.\n\n"
    sections: dict[str, str] = {}
    if Path(results_md).exists():
        for part in re.split(r"^## ", Path(results_md).read_text(encoding="utf-8"), flags=re.M)[1:]:
            name, _, body = part.partition("\n")
            sections[name.strip()] = body.strip("\n")
    # a section's parts may be empty (no compress stage, no lexicon); one blank line between blocks, so
    # rewriting a section leaves no diff but its numbers
    sections.update({name: re.sub(r"\n{3,}", "\n\n", body).strip("\n") for name, body in summaries.items()})
    write_text(results_md, header + "\n\n".join(f"## {name}\n\n{body}" for name, body in sections.items()) + "\n")
    print("\n\n".join(summaries.values()))


if __name__ == "__main__":
    main(*sys.argv[1:])

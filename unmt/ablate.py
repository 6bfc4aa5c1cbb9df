"""Ablation report: which part of the system contributes what (issue 5).

The recipe's ``ablation`` section names train-stage variants; the plan (``unmt/runner.py``) trains and
evaluates each one on the same data and update budget. This module gathers their ``evaluate-<v>/results.json``
and the dev-BLEU validations in ``train-<v>/train.log`` into one table and one plot.
"""
from __future__ import annotations

import json
from pathlib import Path

from unmt.io import save_figure, write_json, write_text
from unmt.layout import RunLayout
from unmt.manifest import stage_minutes
from unmt.train import read_valid_log


def ablation_report(layout: RunLayout, variants: dict[str, tuple[str, str]], directions: list[str],
                    overrides: dict[str, dict], records: dict[str, dict], name: str = "ablation") -> dict:
    """``variants``: {variant: (train stage, evaluate stage)}; ``directions``: "src-tgt" names; ``overrides``:
    each variant's train overrides; ``records``: the train stages' manifest records (their minutes)."""
    report = {"directions": directions, "variants": {}, "baselines": {}}
    for v, (train, evaluate) in variants.items():
        res = json.loads(layout.results(evaluate).read_text())
        curve = read_valid_log(layout.train_log(train))
        report["variants"][v] = {
            "test": {d: {k: res["directions"][d]["unmt"][k] for k in ("bleu", "chrf", "tok_bleu")} for d in directions},
            "train_overrides": overrides[v],
            "updates": curve[-1]["num_updates"] if curve else None,
            "train_minutes": round(stage_minutes(records.get(train, {})), 1),
            "dev_curve": curve,
        }
        for d in directions:  # the baselines do not depend on the variant
            for system in ("copy", "word-by-word"):
                if system in res["directions"][d]:
                    report["baselines"].setdefault(system, {})[d] = {
                        k: res["directions"][d][system][k] for k in ("bleu", "chrf", "tok_bleu")}
        report["test_sentences"] = res["test_sentences"]
    write_json(layout.results(name), report)
    write_text(layout.results(name, "md"), ablation_table(report))
    plot_dev_bleu(report, layout.figure(name, "dev_bleu"))
    return report


def ablation_table(report: dict) -> str:
    ds = report["directions"]
    rows = ["| system | " + " | ".join(f"BLEU {d} | chrF {d}" for d in ds) + " | updates | train min |",
            "|---|" + "---|---|" * len(ds) + "---|---|"]
    for v, r in report["variants"].items():
        t = r["test"]
        rows.append(f"| {v} | " + " | ".join(f"{t[d]['bleu']:.2f} | {t[d]['chrf']:.2f}" for d in ds)
                    + f" | {r['updates'] or ''} | {r['train_minutes']} |")
    for name, t in report["baselines"].items():
        rows.append(f"| baseline: {name} | " + " | ".join(f"{t[d]['bleu']:.2f} | {t[d]['chrf']:.2f}" for d in ds)
                    + " | | |")
    return "\n".join(rows) + f"\n\nsacreBLEU / chrF on {report.get('test_sentences')} test sentences per direction " \
        "(last checkpoint of each variant); dev BLEU over updates: dev_bleu.png.\n"


def plot_dev_bleu(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(report["directions"])
    fig, axes = plt.subplots(1, n, figsize=(5 * n, 3.8), sharey=True, squeeze=False)
    axes = axes[0]
    for ax, d in zip(axes, report["directions"]):
        for v, r in report["variants"].items():
            pts = [(p["num_updates"], p[f"bleu_{d}"]) for p in r["dev_curve"] if f"bleu_{d}" in p]
            if pts:
                ax.plot(*zip(*pts), marker="o", label=v)
        for name, t in report["baselines"].items():
            ax.axhline(t[d]["bleu"], ls="--", lw=0.8, color="grey")
            ax.text(0.01, t[d]["bleu"], f"{name} (test)", transform=ax.get_yaxis_transform(), fontsize=7,
                    color="grey", va="bottom")
        ax.set(title=f"dev BLEU {d} (greedy)", xlabel="updates")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("BLEU")
    axes[0].legend(fontsize=7)
    save_figure(fig, path)

"""Does joint compression of monolingual text predict translation? The analysis of a sweep (unmt sweep):
correlations across language pairs between the joint saving K(X)+K(Y)-K(X,Y) and translation quality, each
with a bootstrap 95% interval over pairs, the same partialled on surface overlap, and one verdict.

    python -m eval.thesis sweeps/thesis [--doc docs/thesis.md]

The joint saving is the fraction of K(X)+K(Y) saved (LMs of equal compute, monolingual text only), so pairs
of languages with different entropies compare. Quality, per pair (mean of its seeds, mean of its two
directions): (1) UNMT BLEU; (2) UNMT BLEU minus the better of the copy and word-by-word baselines; (3) the
share of the supervised ceiling's gain over that baseline that UNMT recovers. Surface overlap: the copy
baseline's chrF (how much of a reference a copied source already matches), partialled out linearly (on
ranks for Spearman). Verdict, on the partial Spearman correlation with (2): "supported" when its interval
lies above 0, "not supported" when it lies below 0.3 (it rules out even a moderate positive relation),
"inconclusive" otherwise.
"""
from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from unmt.io import save_figure, write_json, write_text
from unmt.layout import SweepLayout, figure_beside

MEASURES = {"bleu": "UNMT BLEU", "bleu_over_baseline": "BLEU minus the better baseline",
            "ceiling_share": "share of the ceiling's gain recovered"}
ZOPH_RATIO = 0.68  # Zoph et al. (2015): a Spanish-English translation coded given its source, vs alone
SUPPORTED_BELOW = 0.3  # an interval wholly below this rules out a moderate positive relation


# -- statistics -----------------------------------------------------------------------------------------
def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x))
    for v in np.unique(x):  # ties share their mean rank
        tied = x == v
        ranks[tied] = ranks[tied].mean()
    return ranks


def pearson(x, y) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def spearman(x, y) -> float:
    return pearson(_ranks(np.asarray(x, float)), _ranks(np.asarray(y, float)))


def _residual(v: np.ndarray, z: np.ndarray) -> np.ndarray:
    A = np.column_stack([np.ones_like(z), z])
    coef, *_ = np.linalg.lstsq(A, v, rcond=None)
    return v - A @ coef


def partial(x, y, z, method: str = "spearman") -> float:
    """Correlation of x and y with z's linear part removed from both (on ranks for Spearman)."""
    x, y, z = (np.asarray(v, float) for v in (x, y, z))
    if method == "spearman":
        x, y, z = _ranks(x), _ranks(y), _ranks(z)
    return pearson(_residual(x, z), _residual(y, z))


def bootstrap_interval(stat, arrays: list, n: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of ``stat(*arrays)`` over resamples of the points (pairs) with replacement."""
    rng = np.random.default_rng(seed)
    m = len(arrays[0])
    values = []
    for _ in range(n):
        idx = rng.integers(0, m, m)
        v = stat(*(np.asarray(a, float)[idx] for a in arrays))
        if np.isfinite(v):
            values.append(v)
    if len(values) < n // 2:
        return float("nan"), float("nan")
    lo, hi = np.percentile(values, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(lo), float(hi)


def correlation(x, y, z=None, method: str = "spearman", seed: int = 0) -> dict:
    """{r, low, high, n}: the correlation (partial on z if given) and its bootstrap 95% interval."""
    if z is None:
        fn = spearman if method == "spearman" else pearson
        stat, arrays = fn, [x, y]
    else:
        stat, arrays = (lambda a, b, c: partial(a, b, c, method)), [x, y, z]
    low, high = bootstrap_interval(stat, arrays, seed=seed)
    r = stat(*(np.asarray(a, float) for a in arrays))
    return {"r": round(r, 4), "low": round(low, 4), "high": round(high, 4), "n": len(x)}


def verdict(c: dict) -> str:
    if not np.isfinite(c["low"]):
        return "inconclusive"
    if c["low"] > 0:
        return "supported"
    if c["high"] < SUPPORTED_BELOW:
        return "not supported"
    return "inconclusive"


# -- from a sweep's table to points -------------------------------------------------------------------
def point_values(rows: list[dict]) -> list[dict]:
    """One record per point (pair): the mean over its finished seeds of each measure, and their spread."""
    by_point: dict[str, list[dict]] = {}
    for r in rows:
        if "directions" in r and "joint_saving_fraction" in r:
            by_point.setdefault(r["point"], []).append(r)
    points = []
    for name, runs in by_point.items():
        per_run = [run_measures(r) for r in runs]
        rec = {"point": name, "kind": runs[0]["kind"], "langs": runs[0]["langs"], "seeds": [r["seed"] for r in runs]}
        for key in per_run[0]:
            vals = [m[key] for m in per_run if m[key] is not None]
            rec[key] = round(float(np.mean(vals)), 4) if vals else None
            if len(vals) > 1:
                rec[f"{key}_spread"] = round(float(np.max(vals) - np.min(vals)), 4)
        points.append(rec)
    return points


def run_measures(r: dict) -> dict:
    ds = list(r["directions"].values())
    bleu = float(np.mean([d["unmt"]["bleu"] for d in ds]))
    base = [max(v["bleu"] for k, v in d.items() if k in ("copy", "word-by-word")) for d in ds]
    over = float(np.mean([d["unmt"]["bleu"] - b for d, b in zip(ds, base)]))
    shares = [(d["unmt"]["bleu"] - b) / (d["supervised"]["bleu"] - b)
              for d, b in zip(ds, base) if "supervised" in d and d["supervised"]["bleu"] - b > 1.0]
    cond = list((r.get("conditional_fraction") or {}).values())
    return {"joint_saving": r["joint_saving_fraction"], "joint_saving_bits_per_char": r["joint_saving_bits_per_char"],
            "bleu": bleu, "bleu_over_baseline": over, "ceiling_share": float(np.mean(shares)) if shares else None,
            "overlap": float(np.mean([d["copy"]["chrf"] for d in ds])),
            "conditional_fraction": float(np.mean(cond)) if cond else None}


def analyse(rows: list[dict], seed: int = 0) -> dict:
    points = point_values(rows)
    out = {"points": points, "correlations": {}, "partial_on_overlap": {}}
    for key in MEASURES:
        usable = [p for p in points if p.get(key) is not None]
        x = [p["joint_saving"] for p in usable]
        y = [p[key] for p in usable]
        z = [p["overlap"] for p in usable]
        out["correlations"][key] = {m: correlation(x, y, method=m, seed=seed) for m in ("spearman", "pearson")}
        out["partial_on_overlap"][key] = {m: correlation(x, y, z, method=m, seed=seed) for m in ("spearman", "pearson")}
    out["verdict"] = verdict(out["partial_on_overlap"]["bleu_over_baseline"]["spearman"])
    best = max((p for p in points if p.get("conditional_fraction") is not None), key=lambda p: p["bleu"], default=None)
    out["best_conditional"] = ({"point": best["point"], "ratio": best["conditional_fraction"], "zoph_2015": ZOPH_RATIO}
                               if best else None)
    return out


# -- the document -------------------------------------------------------------------------------------
def _c(c: dict) -> str:
    return f"{c['r']:+.2f} [{c['low']:+.2f}, {c['high']:+.2f}]"


def plain_words(a: dict) -> str:
    c = a["partial_on_overlap"]["bleu_over_baseline"]["spearman"]
    n = c["n"]
    what = {"supported": "the pairs whose monolingual text compresses better jointly are the pairs UNMT translates "
                         "better, beyond what shared spelling explains",
            "not supported": "joint compression does not predict translation quality across pairs once shared "
                             "spelling is accounted for",
            "inconclusive": "the data cannot tell whether joint compression predicts translation quality across pairs"}
    return (f"**Verdict: {a['verdict']}.** Over {n} pairs, {what[a['verdict']]}: the Spearman correlation between "
            f"the joint saving and UNMT BLEU above the better baseline, partialled on surface overlap, is "
            f"{c['r']:+.2f} (95% bootstrap interval {c['low']:+.2f} to {c['high']:+.2f}).")


def thesis_doc(a: dict, sweep_dir: Path, png: Path | None) -> str:
    lines = ["# The thesis, tested", "",
             f"Written by `python -m eval.thesis {sweep_dir}` from the sweep's runs; do not edit by hand.", "",
             plain_words(a), ""]
    if png is not None:
        lines += [f"![joint saving vs BLEU]({png.name})", ""]
    lines += ["## Pairs", "",
              "| pair | kind | seeds | joint saving % | UNMT BLEU | BLEU − better baseline | ceiling share | copy chrF | K(Y|X)/K(Y) |",
              "|---|---|---|---|---|---|---|---|---|"]
    for p in sorted(a["points"], key=lambda p: -p["joint_saving"]):
        spread = lambda k: f" ±{p[k + '_spread'] / 2:.2f}" if f"{k}_spread" in p else ""  # noqa: E731
        share = "–" if p.get("ceiling_share") is None else f"{p['ceiling_share']:.2f}"
        cond = "–" if p.get("conditional_fraction") is None else f"{p['conditional_fraction']:.3f}"
        lines.append(f"| {p['point']} | {p['kind']} | {len(p['seeds'])} | {100 * p['joint_saving']:.1f}{spread('joint_saving')} | "
                     f"{p['bleu']:.2f}{spread('bleu')} | {p['bleu_over_baseline']:+.2f} | {share} | {p['overlap']:.1f} | {cond} |")
    lines += ["", "Spread: half the range over seeds, where a pair ran with several.", "",
              "## Correlations with the joint saving (bootstrap 95% intervals over pairs)", "",
              "| quality | Spearman | Pearson | Spearman, partial on overlap | Pearson, partial on overlap |",
              "|---|---|---|---|---|"]
    for key, label in MEASURES.items():
        c, p = a["correlations"][key], a["partial_on_overlap"][key]
        lines.append(f"| {label} (n={c['spearman']['n']}) | {_c(c['spearman'])} | {_c(c['pearson'])} | "
                     f"{_c(p['spearman'])} | {_c(p['pearson'])} |")
    lines += ["", f"Overlap is the copy baseline's chrF. Verdict rule: supported if the partial Spearman interval for "
              f"BLEU above the baseline lies above 0; not supported if it lies below {SUPPORTED_BELOW}; else inconclusive.", ""]
    if a.get("best_conditional"):
        b = a["best_conditional"]
        lines += ["## How much the source tells the best model", "",
                  f"The best-translating pair ({b['point']}) codes a test sentence given its source in "
                  f"{100 * b['ratio']:.1f}% of the bits it takes alone (mean of both directions). Zoph et al. (2015) "
                  f"report about {100 * b['zoph_2015']:.0f}% for Spanish-English with a model trained on parallel text "
                  "(other languages, other text: an order of magnitude, not a like-for-like comparison).", ""]
    return "\n".join(lines)


def plot(a: dict, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for kind, marker in (("natural", "o"), ("cipher", "s")):
        pts = [p for p in a["points"] if p["kind"] == kind]
        if not pts:
            continue
        ax.errorbar([100 * p["joint_saving"] for p in pts], [p["bleu"] for p in pts],
                    yerr=[p.get("bleu_spread", 0) / 2 for p in pts], fmt=marker, label=kind, capsize=3)
        for p in pts:
            ax.annotate(p["point"], (100 * p["joint_saving"], p["bleu"]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
    ax.set_xlabel("joint saving: (K(X)+K(Y)-K(X,Y)) / (K(X)+K(Y)), %")
    ax.set_ylabel("UNMT test BLEU (mean of both directions)")
    ax.legend()
    ax.set_title(a["verdict"])
    save_figure(fig, png)


@click.command()
@click.argument("sweep_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--doc", type=click.Path(dir_okay=False, path_type=Path), default=Path("docs/thesis.md"), show_default=True)
def main(sweep_dir, doc):
    L = SweepLayout(sweep_dir)
    rows = json.loads(L.results().read_text(encoding="utf-8"))["rows"]
    a = analyse(rows)
    write_json(L.analysis("thesis"), a)
    png = figure_beside(doc)
    plot(a, png)
    write_text(doc, thesis_doc(a, sweep_dir, png))
    click.echo(plain_words(a))
    click.echo(f"written: {doc}, {png}, {L.analysis('thesis')}")


if __name__ == "__main__":
    main()

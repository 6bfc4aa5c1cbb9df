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

import collections
import os
from pathlib import Path

import click
import numpy as np

from unmt.io import label_points, save_figure, write_json, write_text
from unmt.layout import SweepLayout, figure_beside, reads_parallel_text

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
            "min_ceiling_share": float(min(shares)) if len(shares) == len(ds) else None,
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
    # the natural pairs alone: whether the relation holds without the ciphers' extreme points
    natural = [p for p in points if p["kind"] == "natural" and p.get("bleu_over_baseline") is not None]
    out["natural_only"] = {m: correlation([p["joint_saving"] for p in natural], [p["bleu_over_baseline"] for p in natural],
                                          [p["overlap"] for p in natural], method=m, seed=seed)
                           for m in ("spearman", "pearson")}
    out["ciphers"] = cipher_outcomes(points)
    out["verdict"] = verdict(out["partial_on_overlap"]["bleu_over_baseline"]["spearman"])
    # best beyond its baselines: raw BLEU would pick a pair whose test lines are largely the same on both sides
    best = max((p for p in points if p.get("conditional_fraction") is not None and p.get("bleu_over_baseline") is not None),
               key=lambda p: p["bleu_over_baseline"], default=None)
    out["best_conditional"] = ({"point": best["point"], "ratio": best["conditional_fraction"], "zoph_2015": ZOPH_RATIO}
                               if best else None)
    return out


# the seed's claim, variant by variant (issue 35): (a) and (b) share English's structure whole, (c) changes it
# systematically, (d) destroys word order, (e) is another domain
PREDICTED = {"char": "large saving, real BLEU", "word": "large saving, real BLEU", "reversed": "less than (a)",
             "shuffled": "little", "domain": "little"}
DECIPHERED_SHARE = 0.25  # of the ceiling's gain over the better baseline, both ways, to count as deciphered


def cipher_outcomes(points: list[dict]) -> dict:
    """Per cipher variant what happened, and whether the predicted order of joint savings held:
    min(char, word) > reversed > max(shuffled, domain), on the variants that ran."""
    from data_prep.cipher import VARIANTS

    by_code = {code: v for v, code in VARIANTS.items()}
    found = {by_code[p["langs"][1]]: p for p in points if p["kind"] == "cipher" and p["langs"][1] in by_code}
    variants = {v: {"point": p["point"], "joint_saving": p["joint_saving"], "bleu": p["bleu"],
                    "bleu_over_baseline": p["bleu_over_baseline"], "min_ceiling_share": p.get("min_ceiling_share"),
                    "deciphered": (p.get("min_ceiling_share") or 0) >= DECIPHERED_SHARE, "predicted": PREDICTED[v]}
                for v, p in found.items()}
    order = None
    if all(v in found for v in PREDICTED):
        s = {v: found[v]["joint_saving"] for v in PREDICTED}
        order = min(s["char"], s["word"]) > s["reversed"] > max(s["shuffled"], s["domain"])
    return {"variants": variants, "saving_order_as_predicted": order}


# -- the document -------------------------------------------------------------------------------------
def _c(c: dict) -> str:
    if not np.isfinite(c["r"]):
        return f"– (n={c['n']})"
    if not np.isfinite(c["low"]):
        return f"{c['r']:+.2f} [no interval: n={c['n']}]"
    return f"{c['r']:+.2f} [{c['low']:+.2f}, {c['high']:+.2f}]"


def plain_words(a: dict) -> str:
    c = a["partial_on_overlap"]["bleu_over_baseline"]["spearman"]
    n = c["n"]
    what = {"supported": "the pairs whose monolingual text compresses better jointly are the pairs UNMT translates "
                         "better, beyond what shared spelling explains",
            "not supported": "joint compression does not predict translation quality across pairs once shared "
                             "spelling is accounted for",
            "inconclusive": "the data cannot tell whether joint compression predicts translation quality across pairs"}
    head = f"**Verdict: {a['verdict']}.** Over {n} pairs, {what[a['verdict']]}"
    if not np.isfinite(c["low"]):
        return f"{head}: {n} pairs are too few for a correlation with an interval."
    return (f"{head}: the Spearman correlation between the joint saving and UNMT BLEU above the better baseline, "
            f"partialled on surface overlap, is {c['r']:+.2f} (95% bootstrap interval {c['low']:+.2f} to {c['high']:+.2f}).")


def coverage(rows: list[dict]) -> dict:
    """How much of the sweep ran: finished runs, the ones that did not, minutes per finished run."""
    done = [r for r in rows if "directions" in r and "joint_saving_fraction" in r]
    minutes = sorted(r["minutes"] for r in done if r.get("minutes"))
    machines = collections.Counter(r.get("machine") or "a machine not recorded" for r in done)
    return {"runs": len(rows), "finished": len(done), "missing": [r["run"] for r in rows if r not in done],
            "minutes_median": float(np.median(minutes)) if minutes else None,
            "minutes_range": [minutes[0], minutes[-1]] if minutes else None, "machines": dict(machines)}


def parallel_readers(sweep_dir: Path, rows: list[dict]) -> dict:
    """From the finished runs' manifests: which stages read a ``parallel.*`` file of the corpus (the true
    translations), in how many runs, and which checkpoint the evaluate stage scored (last: no dev BLEU
    chose it)."""
    readers: dict[str, int] = {}
    checkpoints: dict[str, int] = {}
    from unmt.sweep import run_files

    L = SweepLayout(sweep_dir)
    for r in rows:
        manifest = run_files(L.run(r["point"], r["seed"]), L.record(r["point"], r["seed"]))["manifest"]
        if "directions" not in r or not manifest:
            continue
        for name, stage in manifest["stages"].items():
            if reads_parallel_text(stage.get("inputs", {})):
                readers[name] = readers.get(name, 0) + 1
            if name == "evaluate":
                which = stage["config"].get("checkpoint", "last")
                checkpoints[which] = checkpoints.get(which, 0) + 1
    return {"stages": readers, "evaluated_checkpoint": checkpoints}


def parallel_line(p: dict) -> str:
    stages = ", ".join(f"{k} ({v} runs)" for k, v in sorted(p["stages"].items())) or "none"
    ckpt = ", ".join(f"{k} ({v} runs)" for k, v in sorted(p["evaluated_checkpoint"].items())) or "–"
    return (f"Stages that read a corpus's true translations (`parallel.*`), from the runs' manifests: {stages}. "
            f"Checkpoint scored: {ckpt} (`last`: dev BLEU did not choose it; the dev set is read only for dev loss and "
            "BLEU). A cipher's other side is English of pages the source corpus gave its other language, taken from "
            "that corpus's parallel file for its English column only.")


def coverage_line(cov: dict) -> str:
    if not cov["runs"]:
        return ""
    where = "; ".join(f"{name} ({n} run{'s' if n != 1 else ''})" for name, n in sorted(cov["machines"].items()))
    m = (f" A run took {cov['minutes_median']:.1f} minutes of stage time (median; {cov['minutes_range'][0]:.1f} to "
         f"{cov['minutes_range'][1]:.1f}) on {where}." if cov["minutes_median"] else "")
    if not cov["missing"]:
        return f"All {cov['runs']} runs of the sweep finished.{m}"
    return (f"**The sweep is not finished: {cov['finished']} of {cov['runs']} runs; what follows is on those alone.**"
            f"{m} Not finished yet: {', '.join(cov['missing'])}.")


def _bc(s: dict | None) -> str:
    return "–" if not s else f"{s['bleu']:.2f} / {s['chrf']:.1f}"


def run_tables(rows: list[dict]) -> list[str]:
    """Every finished run's numbers: the run's code lengths, then each direction's scores."""
    done = [r for r in rows if "directions" in r and "joint_saving_fraction" in r]
    lines = ["## Every run", "",
             "Joint saving: K(X)+K(Y)−K(X,Y) of LMs of equal compute on the monolingual training sides, before any "
             "translation training. K(Y)−K(Y|X): bits per character of the test set the final model's source "
             "saves, each direction; K(Y|X)/K(Y) beside it.", "",
             "| run | joint saving bits/char (%) | K(Y)−K(Y|X) | K(Y|X)/K(Y) | lexicon P@1 | minutes |",
             "|---|---|---|---|---|---|"]
    for r in done:
        info = " / ".join(f"{k} {v:.3f}" for k, v in (r.get("information_from_source") or {}).items()) or "–"
        frac = " / ".join(f"{v:.3f}" for v in (r.get("conditional_fraction") or {}).values()) or "–"
        p1 = " / ".join(f"{d} {v:.2f}" for d, v in (r.get("lexicon_p@1") or {}).items()) or "not available"
        lines.append(f"| {r['run']} | {r['joint_saving_bits_per_char']:.4f} ({100 * r['joint_saving_fraction']:.1f}%) | "
                     f"{info} | {frac} | {p1} | {r.get('minutes', '–')} |")
    lines += ["", "Test BLEU / chrF (sacrebleu), each direction:", "",
              "| run | direction | UNMT | copy | word-by-word | supervised ceiling |", "|---|---|---|---|---|---|"]
    for r in done:
        for d, sys_ in r["directions"].items():
            lines.append(f"| {r['run']} | {d} | {_bc(sys_.get('unmt'))} | {_bc(sys_.get('copy'))} | "
                         f"{_bc(sys_.get('word-by-word'))} | {_bc(sys_.get('supervised'))} |")
    return lines + [""]


def cipher_lines(c: dict) -> list[str]:
    if not c["variants"]:
        return []
    lines = ["## The cipher languages", "",
             "English against English of other pages, written by a seeded substitution into Canadian Syllabics "
             "(data_prep/cipher.py): the two sides share no token. Deciphered: UNMT recovers at least "
             f"{DECIPHERED_SHARE:.0%} of the supervised ceiling's gain over the better baseline in both directions "
             "(the ceiling, trained on the true pairs, reads a cipher's text easily).", "",
             "| variant | predicted | joint saving % | UNMT BLEU | BLEU − better baseline | ceiling share (worse way) | deciphered |",
             "|---|---|---|---|---|---|---|"]
    for v, o in c["variants"].items():
        share = "–" if o["min_ceiling_share"] is None else f"{o['min_ceiling_share']:.2f}"
        lines.append(f"| {v} ({o['point']}) | {o['predicted']} | {100 * o['joint_saving']:.1f} | {o['bleu']:.2f} | "
                     f"{o['bleu_over_baseline']:+.2f} | {share} | {'yes' if o['deciphered'] else 'no'} |")
    order = c["saving_order_as_predicted"]
    lines += ["", ("The joint savings fall in the predicted order (char and word above reversed, reversed above "
                   "shuffled and domain)." if order else
                   "The joint savings do **not** fall in the predicted order (char and word above reversed, reversed "
                   "above shuffled and domain)." if order is False else
                   "The predicted order of joint savings is checked once all five variants ran."), ""]
    return lines


def thesis_doc(a: dict, sweep_dir: Path, png: Path | None, rows: list[dict] | None = None) -> str:
    cov = coverage(rows or [])
    lines = ["# The thesis, tested", "",
             f"Written by `python -m eval.thesis {sweep_dir}` from the sweep's runs (`unmt sweep sweeps/thesis.yaml`); "
             "do not edit by hand.", ""]
    if cov["runs"]:
        lines += [coverage_line(cov), ""]
    lines += [plain_words(a), ""]
    if png is not None:
        lines += [f"![joint saving vs BLEU]({png.name})", ""]
    lines += ["## Pairs", "",
              "Each pair: the mean of its seeds and of its two directions.", "",
              "| pair | kind | seeds | joint saving % | UNMT BLEU | BLEU − better baseline | ceiling share | copy chrF | K(Y|X)/K(Y) |",
              "|---|---|---|---|---|---|---|---|---|"]
    for p in sorted(a["points"], key=lambda p: -p["joint_saving"]):
        # half the range, in the column's unit and digits (the saving is a fraction, shown in %)
        spread = lambda k, scale=1, fmt=".2f": f" ±{scale * p[k + '_spread'] / 2:{fmt}}" if f"{k}_spread" in p else ""  # noqa: E731
        share = "–" if p.get("ceiling_share") is None else f"{p['ceiling_share']:.2f}"
        cond = "–" if p.get("conditional_fraction") is None else f"{p['conditional_fraction']:.3f}"
        lines.append(f"| {p['point']} | {p['kind']} | {len(p['seeds'])} | {100 * p['joint_saving']:.1f}{spread('joint_saving', 100, '.1f')} | "
                     f"{p['bleu']:.2f}{spread('bleu')} | {p['bleu_over_baseline']:+.2f}{spread('bleu_over_baseline')} | "
                     f"{share} | {p['overlap']:.1f} | {cond} |")
    lines += ["", "Spread: half the range over seeds, where a pair ran with several (the plot's bars, both ways).", "",
              "## Correlations with the joint saving (bootstrap 95% intervals over pairs)", "",
              "| quality | Spearman | Pearson | Spearman, partial on overlap | Pearson, partial on overlap |",
              "|---|---|---|---|---|"]
    for key, label in MEASURES.items():
        c, p = a["correlations"][key], a["partial_on_overlap"][key]
        lines.append(f"| {label} (n={c['spearman']['n']}) | {_c(c['spearman'])} | {_c(c['pearson'])} | "
                     f"{_c(p['spearman'])} | {_c(p['pearson'])} |")
    if "natural_only" in a:
        nat = a["natural_only"]
        lines.append(f"| BLEU minus the better baseline, natural pairs only (n={nat['spearman']['n']}) | | | "
                     f"{_c(nat['spearman'])} | {_c(nat['pearson'])} |")
    lines += ["", f"Overlap is the copy baseline's chrF. Verdict rule: supported if the partial Spearman interval for "
              f"BLEU above the baseline (all pairs, ciphers included) lies above 0; not supported if it lies below "
              f"{SUPPORTED_BELOW}; else inconclusive. Fewer than 4 pairs give no interval.", ""]
    lines += cipher_lines(a.get("ciphers") or {"variants": {}})
    if a.get("best_conditional"):
        b = a["best_conditional"]
        lines += ["## How much the source tells the best model", "",
                  f"The pair that translates best beyond its baselines ({b['point']}: the most UNMT BLEU above "
                  "the better of copy and word-by-word; raw BLEU would pick a pair whose two sides share many "
                  f"identical lines) codes a test sentence given its source in "
                  f"{100 * b['ratio']:.1f}% of the bits it takes alone (mean of both directions). Zoph et al. (2015) "
                  f"report about {100 * b['zoph_2015']:.0f}% for Spanish-English with a model trained on parallel text "
                  "(other languages, other text: an order of magnitude, not a like-for-like comparison). K(Y) here "
                  "comes from the sweep's small LMs (compress.lm_updates), which code text worse than a trained LM "
                  "would: a better K(Y) raises the ratio.", ""]
    if a.get("parallel"):
        lines += ["## What reads parallel text", "", parallel_line(a["parallel"]), ""]
    if rows:
        lines += run_tables(rows)
    return "\n".join(lines)


def readme_block(a: dict, rows: list[dict], doc: Path, png: Path) -> str:
    """The README's paragraph: the verdict in plain words, how much of the sweep it rests on, and the plot."""
    cov = coverage(rows)
    done = "" if not cov["missing"] else f" (so far {cov['finished']} of {cov['runs']} runs: the sweep is not finished)"
    c = a["ciphers"]["variants"]
    ciphers = ""
    if c:
        yes = [v for v, o in c.items() if o["deciphered"]]
        ciphers = (f" Of the cipher languages, UNMT deciphered {', '.join(yes)}; not {', '.join(v for v in c if v not in yes)}."
                   if yes and len(yes) < len(c) else
                   " UNMT deciphered every cipher language that ran." if yes else
                   " UNMT deciphered none of the cipher languages that ran (English in another script).")
    return (f"{plain_words(a)}{ciphers} One recipe over {len(a['points'])} language pairs{done}; every number, the "
            f"cipher languages and the method: [{doc.as_posix()}]({doc.as_posix()}).\n\n"
            f"![joint saving against BLEU]({png.as_posix()})")


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
                    xerr=[100 * p.get("joint_saving_spread", 0) / 2 for p in pts],
                    yerr=[p.get("bleu_spread", 0) / 2 for p in pts], fmt=marker, label=kind, capsize=3)
    label_points(ax, [(100 * p["joint_saving"], p["bleu"], p["point"]) for p in a["points"]], fontsize=7)
    ax.set_xlabel("joint saving: (K(X)+K(Y)-K(X,Y)) / (K(X)+K(Y)), %")
    ax.set_ylabel("UNMT test BLEU (mean of both directions)")
    ax.legend()
    ax.set_title(a["verdict"])
    save_figure(fig, png)


@click.command()
@click.argument("sweep_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--doc", type=click.Path(dir_okay=False, path_type=Path), default=Path("docs/thesis.md"), show_default=True)
@click.option("--readme", type=click.Path(dir_okay=False, path_type=Path), default=Path("README.md"), show_default=True,
              help="Its <!-- thesis:start/end --> block gets the verdict and the plot (none: left alone).")
def main(sweep_dir, doc, readme):
    from eval.report import replace_block
    from unmt.sweep import gather, load_sweep

    L = SweepLayout(sweep_dir)
    # the sweep file as run, else the one the folder is named after (sweeps/NAME.yaml beside sweeps/NAME/):
    # a checkout holds the folder's records, not the copy
    sweep_file = next((f for f in (L.sweep_file, sweep_dir.with_suffix(".yaml")) if f.exists()), None)
    if sweep_file is None:
        raise click.ClickException(f"{L.sweep_file}: not found -- {sweep_dir} is not a sweep folder (unmt sweep writes one)")
    rows = gather(load_sweep(sweep_file), sweep_dir)["rows"]  # from the runs' results or records, finished or not
    a = analyse(rows)
    a["coverage"] = coverage(rows)
    a["parallel"] = parallel_readers(sweep_dir, rows)
    write_json(L.analysis("thesis"), a)
    png = figure_beside(doc)
    plot(a, png)
    write_text(doc, thesis_doc(a, sweep_dir, png, rows))
    if readme.exists() and "<!-- thesis:start -->" in readme.read_text(encoding="utf-8"):
        rel = lambda p: Path(os.path.relpath(p.resolve(), readme.resolve().parent))  # noqa: E731
        write_text(readme, replace_block(readme.read_text(encoding="utf-8"), "thesis",
                                         readme_block(a, rows, rel(doc), rel(png))))
    click.echo(coverage_line(a["coverage"]))
    click.echo(plain_words(a))
    click.echo(f"written: {doc}, {png}, {L.analysis('thesis')}")


if __name__ == "__main__":
    main()

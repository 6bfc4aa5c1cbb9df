"""The thesis analysis (eval/thesis.py) on numbers with a known answer: it finds a relation that is there,
its interval covers the true value, it says "inconclusive" on noise, and a relation carried by surface
overlap alone does not survive partialling."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eval.thesis import analyse, correlation, partial, pearson, spearman, thesis_doc, verdict


def test_rank_correlation_of_a_monotone_relation_is_one_and_ties_are_shared():
    x = np.arange(10.0)
    assert spearman(x, np.exp(x)) == pytest.approx(1.0)
    assert spearman(x, -x ** 3) == pytest.approx(-1.0)
    assert spearman([1, 2, 2, 3], [1, 2, 2, 3]) == pytest.approx(1.0)
    assert pearson(x, 2 * x + 1) == pytest.approx(1.0)


def test_a_known_relation_is_found_and_its_interval_covers_the_true_value():
    rng = np.random.default_rng(7)
    rho, n = 0.8, 60
    x = rng.normal(size=n)
    y = rho * x + np.sqrt(1 - rho ** 2) * rng.normal(size=n)  # population Pearson correlation 0.8
    c = correlation(x, y, method="pearson")
    assert c["low"] <= c["r"] <= c["high"]
    assert c["low"] <= rho <= c["high"] and c["low"] > 0.5
    assert verdict(correlation(x, y)) == "supported"


def test_noise_is_inconclusive():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=12), rng.normal(size=12)
    c = correlation(x, y)
    assert c["low"] < 0 < c["high"] and verdict(c) == "inconclusive"


def test_a_relation_carried_by_overlap_alone_does_not_survive_partialling():
    rng = np.random.default_rng(5)
    z = rng.uniform(0, 1, 40)                       # shared spelling
    x = z + 0.05 * rng.normal(size=40)              # joint saving, driven by it
    y = z + 0.05 * rng.normal(size=40)              # BLEU, driven by it too
    assert spearman(x, y) > 0.8
    assert abs(partial(x, y, z)) < 0.4
    assert verdict(correlation(x, y, z)) != "supported"


def _row(point, seed, saving, bleu, copy_chrf, kind="natural"):
    d = {"unmt": {"bleu": bleu, "chrf": 40}, "copy": {"bleu": 1.0, "chrf": copy_chrf},
         "word-by-word": {"bleu": 2.0, "chrf": 30}, "supervised": {"bleu": 30.0, "chrf": 60}}
    return {"point": point, "seed": seed, "kind": kind, "langs": ["a", "b"], "run": f"{point}-s{seed}",
            "joint_saving_fraction": saving, "joint_saving_bits_per_char": saving * 4,
            "conditional_fraction": {"K(b|a)": 0.9, "K(a|b)": 0.92}, "directions": {"a-b": d, "b-a": d}}


def test_the_analysis_of_a_sweep_table_averages_seeds_and_writes_a_verdict(tmp_path):
    rows = [_row(f"p{i}", 1, 0.02 * i, 3.0 * i, 20) for i in range(1, 11)]
    rows += [_row("p5", 2, 0.1, 17.0, 20), _row("p5", 3, 0.12, 13.0, 20)]  # p5: three seeds
    rows.append({"point": "broken", "seed": 1, "kind": "natural", "langs": ["a", "b"], "run": "broken-s1"})
    a = analyse(rows)
    p5 = next(p for p in a["points"] if p["point"] == "p5")
    assert p5["bleu"] == pytest.approx(15.0) and p5["bleu_spread"] == pytest.approx(4.0) and len(p5["seeds"]) == 3
    assert len(a["points"]) == 10  # the unfinished run is no point
    assert a["correlations"]["bleu"]["spearman"]["r"] == pytest.approx(1.0)
    # overlap is the same for every pair: partialling on it removes nothing, and the relation is there
    assert a["partial_on_overlap"]["bleu_over_baseline"]["spearman"]["r"] == pytest.approx(1.0)
    assert a["verdict"] == "supported"
    doc = thesis_doc(a, tmp_path, None)
    assert "**Verdict: supported.**" in doc and "| p5 | natural | 3 | 10.7 ±1.0 | 15.00 ±2.00 |" in doc and "68%" in doc


def test_ciphers_are_judged_against_their_predictions_and_an_unfinished_sweep_says_so():
    from eval.thesis import coverage, coverage_line, readme_block

    rows = [_row(f"p{i}", 1, 0.02 * i, 3.0 * i, 20) for i in range(1, 6)]
    cipher = {"char": ("qca", 0.30, 12.0), "word": ("qcw", 0.25, 1.5), "reversed": ("qcr", 0.20, 1.0),
              "shuffled": ("qcs", 0.05, 0.5), "domain": ("qcb", 0.02, 0.5)}
    for v, (code, saving, bleu) in cipher.items():
        r = _row(f"cipher-{v}", 1, saving, bleu, 0.5, kind="cipher")
        r["langs"] = ["en", code]
        rows.append(r)
    rows.append({"point": "late", "seed": 1, "kind": "natural", "langs": ["a", "b"], "run": "late-s1", "minutes": 3.0})
    a = analyse(rows)
    c = a["ciphers"]
    # deciphered: a quarter of the ceiling's gain (30.0 BLEU) over the better baseline (2.0) both ways
    assert c["variants"]["char"]["deciphered"] and c["variants"]["char"]["min_ceiling_share"] == pytest.approx(10 / 28, abs=1e-4)
    assert not c["variants"]["word"]["deciphered"]
    assert c["saving_order_as_predicted"] is True
    assert a["natural_only"]["spearman"]["n"] == 5
    cov = coverage(rows)
    assert cov == {"runs": 11, "finished": 10, "missing": ["late-s1"], "minutes_median": None, "minutes_range": None,
                   "machines": {"a machine not recorded": 10}}
    rows[0]["minutes"], rows[0]["machine"] = 30.0, "AMD EPYC, 2 cores"  # minutes say where they were spent
    assert "(median; 30.0 to 30.0) on AMD EPYC, 2 cores (1 run); a machine not recorded (9 runs)." in \
        coverage_line(coverage(rows))
    block = readme_block(a, rows, Path("docs/thesis.md"), Path("docs/thesis.png"))
    assert "10 of 11 runs: the sweep is not finished" in block and "deciphered char; not word" in block
    assert "![joint saving against BLEU](docs/thesis.png)" in block
    doc = thesis_doc(a, Path("sweeps/x"), None, rows)
    assert "**The sweep is not finished: 10 of 11 runs" in doc and "late-s1" in doc
    assert "| p3-s1 | a-b | 9.00 / 40.0 | 1.00 / 20.0 | 2.00 / 30.0 | 30.00 / 60.0 |" in doc
    assert "The joint savings fall in the predicted order" in doc


def test_too_few_pairs_give_no_interval_and_say_so():
    a = analyse([_row("p1", 1, 0.1, 5.0, 20), _row("p2", 1, 0.2, 6.0, 20)])
    assert a["verdict"] == "inconclusive" and "too few for a correlation" in thesis_doc(a, Path("s"), None)


def test_labels_of_crowded_points_are_placed_apart():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from unmt.io import label_points

    # Three cipher runs a tenth of a percent apart, as in the sweep, one point on its own, one at the right edge.
    points = [(6.4, 1.9, "cipher-char"), (6.5, 1.85, "cipher-word"), (6.3, 1.8, "cipher-reversed"),
              (7.5, 8.0, "en-fr"), (9.0, 12.0, "es-pt")]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.plot([x for x, _, _ in points], [y for _, y, _ in points], "o")
    places = label_points(ax, points, fontsize=7)
    plt.close(fig)
    assert places[3] == (4, 4, "left")  # alone: the usual place
    assert places[4][2] == "right"  # at the edge: to its left, in view
    assert len(set(places[:3])) == 3  # crowded: three different places
    fig, ax = plt.subplots()
    assert label_points(ax, []) == []  # nothing to label: the plot stays as it is
    plt.close(fig)


def test_a_label_with_no_free_place_in_view_widens_the_axes_instead_of_crossing_the_frame():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from unmt.io import label_points

    # As in the sweep: two cipher runs side by side at the bottom; the lower one's only free place is below.
    points = [(4.5, 4.1, "en-zh"), (10.1, 14.6, "es-pt"), (6.45, 1.6, "cipher-char"), (6.72, 1.5, "cipher-word")]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.plot([x for x, _, _ in points], [y for _, y, _ in points], "o")
    ax.autoscale_view()
    before = ax.get_ylim()
    places = label_points(ax, points, fontsize=7)
    fig.tight_layout()
    fig.canvas.draw()
    frame = ax.get_window_extent()
    labels = {t.get_text(): t.get_window_extent() for t in ax.texts}
    plt.close(fig)
    assert places[3][1] < 0 and ax.get_ylim()[0] < before[0]  # placed below, and the axes gave it room
    for name, box in labels.items():
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1, name

"""Evaluation against a MUSE-format dictionary: P@k (CSLS), the results table and the curves per iteration."""
from __future__ import annotations

import collections
from pathlib import Path

import numpy as np

from unmt.search import csls_retrieve, knn


def read_dictionary(path: Path, src_words: list[str], tgt_words: list[str]) -> tuple[dict[int, set[int]], int]:
    """MUSE format (``src tgt`` per line, several lines per source allowed) -> {src_id: {tgt_ids}}."""
    from unmt.io import read_lines

    s_id = {w: i for i, w in enumerate(src_words)}
    t_id = {w: i for i, w in enumerate(tgt_words)}
    gold: dict[int, set[int]] = collections.defaultdict(set)
    total = 0
    for line in read_lines(path, "dictionary"):
        parts = line.split()
        if len(parts) != 2:
            continue
        total += 1
        if parts[0] in s_id and parts[1] in t_id:
            gold[s_id[parts[0]]].add(t_id[parts[1]])
    return dict(gold), total


def precision_at_k(SW: np.ndarray, T: np.ndarray, gold: dict[int, set[int]], ks=(1, 5, 10), method="csls") -> dict:
    if not gold:
        return {f"p@{k}": 0.0 for k in ks} | {"evaluated_words": 0}
    src = np.array(sorted(gold))
    if method == "csls":  # r_T over every source word (the hubs are among all of them), queries the gold ones
        _, idx = csls_retrieve(SW[src], T, 10, max(ks), hub_queries=SW)
    else:
        _, idx = knn(SW[src], T, max(ks))
    return precision_of(idx, gold, ks, rows=src)


def precision_of(idx: np.ndarray, gold: dict[int, set[int]], ks=(1, 5, 10), rows: np.ndarray | None = None) -> dict:
    """P@k of ranked candidates ``idx`` (one row per source word, or per ``rows``' words) on the gold words."""
    if not gold:
        return {f"p@{k}": 0.0 for k in ks} | {"evaluated_words": 0}
    src = np.array(sorted(gold)) if rows is None else rows
    ranked = idx[src] if rows is None else idx
    res = {f"p@{k}": round(100 * float(np.mean([bool(set(ranked[n, :k]) & gold[s]) for n, s in enumerate(src)])), 2)
           for k in ks}
    res["evaluated_words"] = int(len(src))
    return res


def invert_dictionary(gold: dict[int, set[int]]) -> dict[int, set[int]]:
    inv: dict[int, set[int]] = collections.defaultdict(set)
    for i, js in gold.items():
        for j in js:
            inv[j].add(i)
    return dict(inv)


def lexicon_table(results: dict) -> str:
    rows = ["| direction | method | P@1 | P@5 | P@10 | words | frequency agreement | MUSE criterion |",
            "|---|---|---|---|---|---|---|---|"]
    for pair, rec in results.items():
        entries = [("no mapping", rec.get("no_mapping"))]
        entries += [(m + (" (selected)" if m == rec["selected"] else ""), r) for m, r in rec["methods"].items()]
        entries += [("supervised Procrustes", rec.get("supervised_procrustes")),
                    ("supervised + refinement", rec.get("supervised_refined"))]
        for name, r in entries:
            if r and "skipped" in r:
                rows.append(f"| {pair} | {name} | skipped: {r['skipped'].split(' -- ')[0]} | | | | | |")
            elif r:
                rows.append(f"| {pair} | {name} | {r.get('p@1', '-')} | {r.get('p@5', '-')} | {r.get('p@10', '-')} "
                            f"| {r.get('evaluated_words', '-')} | {r.get('frequency_agreement', '-')} "
                            f"| {r.get('criterion', '-')} |")
    nulls = ", ".join(f"{p} {r.get('frequency_agreement_random_rotation', '-')} / {r['criterion_random_rotation']}"
                      for p, r in results.items())
    by = {r.get("selected_by", "muse") for r in results.values()}
    missing = "".join(f"\n{p}: P@1 {r['p@1']}." for p, r in results.items() if isinstance(r.get("p@1"), str))
    alike = ", ".join(f"{p} {r['spelled_alike']['p@1_points']} of {r['spelled_alike']['selected_p@1']} "
                      f"({r['spelled_alike']['test_words']} of {r['spelled_alike']['of']} test words have one)"
                      for p, r in results.items() if "spelled_alike" in r)
    alike = (f"Identical strings in the selected lexicon's P@1 (a test word translated by itself), points: {alike}.\n"
             if alike else "")
    return ("\n".join(rows) + f"\n\nSelected by: {', '.join(sorted(by))} (align.criterion). Under a random rotation (no "
            f"alignment), frequency agreement / MUSE criterion: {nulls}.\n" + alike
            + (missing.lstrip("\n") + "\n" if missing else ""))


# ----------------------------------------------------------------------------- the stage
def plot_history(histories: dict[str, list[dict]], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from unmt.io import save_figure

    fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
    for name, hist in histories.items():
        scored = [h for h in hist if "frequency_agreement" in h]  # VecMap scores every tenth iteration
        its = [h["iteration"] for h in scored]
        if scored and "p@1" in scored[0]:
            ax[0].plot(its, [h["p@1"] for h in scored], marker="o", label=name)
        ax[1].plot(its, [h["frequency_agreement"] for h in scored], marker="o", label=name)
    ax[0].set(title="P@1 (CSLS) on the test dictionary", xlabel="refinement iteration")
    ax[1].set(title="selection criterion (frequency agreement)", xlabel="refinement iteration")
    for a in ax:
        a.legend(fontsize=8)
        a.grid(alpha=0.3)
    save_figure(fig, path)

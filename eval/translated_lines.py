"""BLEU on the test lines whose reference is translated, rescored from a run's saved hypotheses: for runs
evaluated before the evaluate stage measured it (results.json's ``translated_lines``).

    python -m eval.translated_lines RUN_DIR [RUN_DIR ...]
"""
from __future__ import annotations

import sys
from pathlib import Path

from eval.scoring import score_translated_lines, translated_lines
from unmt.errors import UnmtError
from unmt.io import read_lines
from unmt.layout import RunLayout


def rescore(run: Path) -> list[str]:
    """One Markdown row per direction with saved hypotheses: lines kept, BLEU of unmt, copy, word-by-word."""
    L, rows = RunLayout(run), []
    for hyp in sorted(L.dir("evaluate").glob("test.*.hyp.*")):
        s, t = hyp.name.split(".")[1].split("-")
        hyps = read_lines(hyp, "hypotheses")  # the first evaluate.max_lines of the test set
        src, ref = (read_lines(L.text("test", x), "test set")[: len(hyps)] for x in (s, t))
        keep = translated_lines(src, ref)
        systems = [hyps, src]
        wbw = L.hypotheses("evaluate", s, t, "wbw")
        systems.append(read_lines(wbw, "hypotheses") if wbw.exists() else None)
        bleu = [f"{score_translated_lines(h, ref, keep, t)['bleu']:.2f}" if h else "-" for h in systems]
        rows.append(f"| {run.name} | {s}→{t} | {len(keep)} of {len(ref)} | " + " | ".join(bleu) + " |")
    if not rows:
        raise UnmtError(f"{run}: no test hypotheses in {L.dir('evaluate')} -- run the evaluate stage first")
    return rows


def main(*runs: str) -> None:
    rows = [row for run in runs for row in rescore(Path(run))]
    print("| run | direction | translated lines | unmt BLEU | copy BLEU | word-by-word BLEU |\n|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    try:
        main(*sys.argv[1:])
    except UnmtError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)

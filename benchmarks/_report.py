"""How every scale benchmark reports: one Markdown table printed and written with its JSON rows to
benchmarks/results/NAME.{md,json}, headed by the command that measured them."""
from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def markdown_table(head: list[str], keys: list[str], rows: list[dict]) -> str:
    cell = lambda v: f"{v:,}" if isinstance(v, int) else str(v)  # noqa: E731
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                     + ["| " + " | ".join(cell(r[k]) for k in keys) + " |" for r in rows])


def write_results(name: str, head: list[str], keys: list[str], rows: list[dict], summary: dict | None = None,
                  after: str = "") -> str:
    """Print and write the table (``after``: text below it); JSON holds the command, ``summary`` and the rows."""
    command = " ".join(sys.argv)
    text = markdown_table(head, keys, rows) + (f"\n\n{after}" if after else "")
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps({"command": command, **(summary or {}), "rows": rows}, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(f"`{command}`\n\n{text}\n")
    return text

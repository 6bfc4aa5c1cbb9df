"""Small file helpers every stage uses: atomic writes, sha256, checked reading of text corpora."""
from __future__ import annotations

import contextlib
import hashlib
import json
import lzma
import os
import secrets
from pathlib import Path
from typing import Iterable, Iterator

from unmt.errors import fail


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path``; rename it over ``path`` only if the block succeeds.

    A killed or failing stage therefore never leaves a half-written output that a later
    ``unmt run`` would mistake for a finished one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    # created with mode 0o666 so the kernel applies the process umask, as for any file we write
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as e:
        if e.filename is None:  # a full disk is raised by write() and close() without a name: give it one
            raise OSError(e.errno, e.strerror or str(e), str(path)) from None
        raise
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_lines(path, lines: Iterable[str]) -> int:
    n = 0
    opener = lzma.open if str(path).endswith(".xz") else open
    with atomic_path(path) as tmp, opener(tmp, "wt", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")
            n += 1
    return n


def write_json(path, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")


# a result's keys that are wall-clock measurements: results.json holds what the same recipe reproduces byte
# for byte, and these go beside it (results.timings.json)
TIMING_KEYS = ("seconds", "elapsed", "training_minutes")


def split_timings(x):
    """(``x`` without its TIMING_KEYS at any depth, those timings in the same nesting or None if none)."""
    if isinstance(x, dict):
        kept, timed = {}, {}
        for k, v in x.items():
            if k in TIMING_KEYS:
                timed[k] = v
                continue
            kept[k], t = split_timings(v)
            if t is not None:
                timed[k] = t
        return kept, (timed or None)
    if isinstance(x, list):
        parts = [split_timings(v) for v in x]
        timed = [t for _, t in parts]
        return [k for k, _ in parts], (timed if any(t is not None for t in timed) else None)
    return x, None


def timings_path(results: Path) -> Path:
    """The file beside a results file that holds the times measured while making it."""
    results = Path(results)
    return results.with_name(f"{results.stem}.timings.json")


def write_results(path, results: dict) -> None:
    """A stage's (or analysis's) results as JSON, its wall-clock timings split off beside it (timings_path)."""
    kept, timed = split_timings(results)
    write_json(path, kept)
    if timed is not None:
        write_json(timings_path(path), timed)


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_lines(path, what: str = "corpus") -> list[str]:
    """Read a UTF-8 text file (optionally .xz) as lines; fail in one line if missing, empty or not UTF-8."""
    return list(iter_lines(path, what))


def iter_lines(path, what: str = "corpus") -> Iterator[str]:
    """Lines of a UTF-8 text file (optionally .xz), one at a time (``read_lines`` holds them all); a missing,
    empty, truncated or non-UTF-8 file fails in one line naming it."""
    path = Path(path)
    if not path.exists():
        raise fail(path, f"{what} file not found", "check the path, or run the stage that writes it (see `unmt --help`)")
    opener = lzma.open if path.suffix == ".xz" else open
    seen = False
    n = 0
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.rstrip("\n")
                seen = seen or bool(line.strip())
                yield line
    except UnicodeDecodeError:
        raise fail(path, f"{what} is not valid UTF-8 (near line {n + 1})", "re-encode it, e.g. `iconv -t UTF-8`") from None
    except (lzma.LZMAError, EOFError):
        raise fail(path, f"{what} is not a valid .xz file", "re-create it or decompress it by hand") from None
    if not seen:
        raise fail(path, f"{what} is empty", "give a file with one sentence per line")


def sha256_file(path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def save_array(path, array) -> None:
    import numpy as np

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def label_points(ax, points: list[tuple[float, float, str]], fontsize: float = 8) -> list[tuple[int, int, str]]:
    """Annotate each (x, y, label) of a scatter plot: right of its point and above, else below or to its left,
    whichever overlaps no marker and no label already placed, inside the axes where one such place is (else
    the axes widen to hold it), so points with nearly equal numbers stay legible and no label runs over the
    frame.
    Highest points first, so a crowded group reads downwards. Returns each label's offset (points) and
    alignment."""
    ax.autoscale_view()
    scale = 72 / ax.figure.dpi
    at = [ax.transData.transform((x, y)) * scale for x, y, _ in points]
    frame = ax.get_window_extent()
    inside = (frame.x0 * scale, frame.y0 * scale, frame.x1 * scale, frame.y1 * scale)
    taken = [(px - 3, py - 3, px + 3, py + 3) for px, py in at]  # the markers
    places: list = [None] * len(points)
    for i in sorted(range(len(points)), key=lambda i: -points[i][1]):
        (px, py), width, height = at[i], 0.6 * fontsize * len(points[i][2]), fontsize + 1  # estimated, not rendered
        options = []
        for dx, dy, ha in ((4, 4, "left"), (4, -12, "left"), (-4, 4, "right"), (-4, -12, "right")):
            x0 = px + dx if ha == "left" else px + dx - width
            box = (x0, py + dy, x0 + width, py + dy + height)
            free = not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in taken)
            in_view = inside[0] <= box[0] and box[2] <= inside[2] and inside[1] <= box[1] and box[3] <= inside[3]
            options.append((not free, not in_view, (dx, dy, ha), box))
        # free and in view; else free (a label past the frame still prints, over it); else the first
        *_, place, box = min(options, key=lambda o: o[:2])
        taken.append(box)
        places[i] = place
    _widen_to_hold(ax, taken[len(points):], inside)
    for (x, y, label), (dx, dy, ha) in zip(points, places):
        ax.annotate(label, (x, y), fontsize=fontsize, xytext=(dx, dy), textcoords="offset points", ha=ha)
    return places


def _widen_to_hold(ax, boxes: list, inside: tuple) -> None:
    """Widen the axes' limits so that labels with no free place in view (boxes in points) print inside the
    frame rather than over it: a label is placed in points from its marker, so the data must give way."""
    if not boxes:
        return
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    per_x, per_y = (x1 - x0) / (inside[2] - inside[0]), (y1 - y0) / (inside[3] - inside[1])
    spare = 1.15  # widening shrinks the scale, so a little more than the overflow
    left = max(0.0, inside[0] - min(b[0] for b in boxes))
    right = max(0.0, max(b[2] for b in boxes) - inside[2])
    below = max(0.0, inside[1] - min(b[1] for b in boxes))
    above = max(0.0, max(b[3] for b in boxes) - inside[3])
    if left or right:
        ax.set_xlim(x0 - spare * left * per_x, x1 + spare * right * per_x)
    if below or above:
        ax.set_ylim(y0 - spare * below * per_y, y1 + spare * above * per_y)


def save_figure(fig, path) -> None:
    """Every PNG the stages plot: tight layout, written atomically, figure closed."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)

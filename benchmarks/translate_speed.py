"""``unmt translate`` against ``fairseq-generate`` on the same checkpoint and the same input -- one run of this
script: sentences/s and tokens/s of each, the share of ours spent outside the model (SentencePiece encoding,
dictionary lookup, detokenisation), and how many of the hypotheses are identical.

fairseq-generate reads the run's binarized test set through our task (``--task unmt_backtranslation``, which
starts decoding from the target language's tag) with the decoding settings ``unmt translate`` uses (greedy or
--beam, max length 1.5 x source + 10); its own timer counts model time only. Ours is timed from raw lines to
detokenised text.

    .venv/bin/python benchmarks/translate_speed.py --run-dir runs/default --beam 1

Prints a Markdown table and writes it (and JSON) to benchmarks/results/translate_speed.{md,json}.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from _report import write_results

ROOT = Path(__file__).resolve().parents[1]


def reference(layout, checkpoint: Path, src: str, tgt: str, beam: int, batch_size: int) -> dict:
    from unmt.generation import MAX_LEN_A, MAX_LEN_B

    cmd = [sys.executable, "-m", "fairseq_cli.generate", str(layout.bin_dir), "--user-dir", str(ROOT / "unmt" / "plugin"),
           "--task", "unmt_backtranslation", "--mono-langs", f"{src},{tgt}", "--valid-lang-pairs", f"{src}-{tgt}",
           "--gen-subset", "test", "--path", str(checkpoint), "--beam", str(beam), "--batch-size", str(batch_size),
           "--max-len-a", str(MAX_LEN_A), "--max-len-b", str(MAX_LEN_B), "--remove-bpe", "sentencepiece"]
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"})
    wall = time.time() - t0
    if r.returncode != 0:
        sys.exit(f"fairseq-generate failed:\n{r.stderr[-3000:]}")
    m = re.search(r"Translated ([\d,]+) sentences \(([\d,]+) tokens\) in ([\d.]+)s", r.stdout + r.stderr)
    hyps = {}
    for line in r.stdout.splitlines():
        if line.startswith("D-"):
            key, _, text = line.split("\t", 2)
            hyps[int(key[2:])] = text
    n, tokens, seconds = int(m.group(1).replace(",", "")), int(m.group(2).replace(",", "")), float(m.group(3))
    # fairseq skips test sentences longer than the model's positions (ours cuts them): compare by sentence id
    return {"system": "fairseq-generate", "sentences": n, "tokens": tokens, "model_s": seconds,
            "end_to_end_s": round(wall, 1), "hyps": hyps, "command": " ".join(cmd[1:])}


def ours(layout, checkpoint: Path, src: str, tgt: str, beam: int, batch_size: int) -> dict:
    from unmt.io import read_lines
    from unmt.translate import Translator

    t0 = time.time()
    tr = Translator(checkpoint, layout, beam=beam)
    load = time.time() - t0
    lines = read_lines(layout.text("test", src))
    t0 = time.time()
    for _ in tr.batches(lines, src, batch_size, longest_first=True):
        pass
    encode = time.time() - t0
    t0 = time.time()
    hyps = tr.translate(lines, src, tgt, batch_size=batch_size)
    seconds = time.time() - t0
    tokens = sum(len(tr.sp.encode(h)) + 1 for h in hyps)   # + </s>, as fairseq counts
    return {"system": "unmt translate", "sentences": len(lines), "tokens": tokens, "model_s": round(seconds - encode, 2),
            "end_to_end_s": round(load + seconds, 1), "translate_s": round(seconds, 2), "encode_s": round(encode, 2),
            "hyps": hyps}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run-dir", type=Path, default=ROOT / "runs" / "default")
    ap.add_argument("--src", default="en")
    ap.add_argument("--tgt", default="fr")
    ap.add_argument("--beam", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    from unmt.layout import RunLayout

    layout = RunLayout(args.run_dir)
    checkpoint = layout.checkpoint("train")
    ref = reference(layout, checkpoint, args.src, args.tgt, args.beam, args.batch_size)
    mine = ours(layout, checkpoint, args.src, args.tgt, args.beam, args.batch_size)
    same = sum(mine["hyps"][i] == h for i, h in ref["hyps"].items()) / len(ref["hyps"])
    rows = []
    for r in (ref, mine):
        total = r.get("translate_s", r["model_s"])
        rows.append({"system": r["system"], "sentences": r["sentences"], "tokens": r["tokens"],
                     "model_s": r["model_s"], "sentences_per_s": round(r["sentences"] / total, 1),
                     "tokens_per_s": round(r["tokens"] / total), "end_to_end_s": r["end_to_end_s"]})
    ratio = rows[0]["sentences_per_s"] and round(rows[1]["sentences_per_s"] / rows[0]["sentences_per_s"], 3)
    summary = {"direction": f"{args.src}-{args.tgt}", "beam": args.beam,
               "batch_size": args.batch_size, "ours_vs_reference_sentences_per_s": ratio,
               "ours_outside_model_share": round(mine["encode_s"] / mine["translate_s"], 3),
               "identical_hypotheses": round(same, 4), "reference_skipped_sentences": mine["sentences"] - ref["sentences"],
               "reference_command": ref["command"]}
    head = ["system", "sentences", "tokens out", "model s", "sentences/s", "tokens/s", "end to end s (with loading)"]
    keys = ["system", "sentences", "tokens", "model_s", "sentences_per_s", "tokens_per_s", "end_to_end_s"]
    after = (f"ours / fairseq-generate sentences/s: {ratio}; ours outside the model (SentencePiece, dictionary): "
             f"{summary['ours_outside_model_share']:.1%}; identical hypotheses: {same:.1%} of the sentences both "
             f"translated (fairseq-generate skipped {summary['reference_skipped_sentences']} longer than the model's "
             "positions; ours cuts them)")
    write_results("translate_speed", head, keys, rows, summary, after)


if __name__ == "__main__":
    main()

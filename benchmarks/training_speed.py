"""Training speed against the reference, measured side by side in one run on the same model, data and start:

  A  fairseq's own ``online_backtranslation`` task (denoising + online BT, both weights 1)
  B  our ``unmt_backtranslation`` task on exactly A's work (same flags; no warm-start or mined batches)
  C  our task as recipes run it: + word-by-word warm-start and mined pairs (two more batch kinds per update)
  D  plain ``fairseq-train --task translation`` on parallel data (the dev pairs), the ceiling: no generation

Every configuration trains ``--updates`` updates from the run's pretrained LM in fp32 (fairseq's task has no
CPU autocast, so neither side uses it), in its own process, one after another. Timers wrap fairseq's
``Trainer.train_step`` (update time) and ``OnlineBackTranslationTask.backtranslate_sample`` (BT generation,
which B and C inherit), after ``--skip`` warm-up updates; tokens/s is fairseq's own ``wps`` over the same
updates. Prints a Markdown table with the ratios and writes benchmarks/results/training_speed.{md,json}.

    .venv/bin/python benchmarks/training_speed.py --run-dir runs/default --updates 40
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import write_results

ROOT = Path(__file__).resolve().parents[1]


def child(out: Path, skip: int, fairseq_args: list[str]) -> None:
    """Run fairseq_cli.train in this process with timers around the update and the BT generation."""
    from fairseq_cli.train import cli_main  # first: it sets up fairseq's INFO logging (the wps records)
    from fairseq.tasks.online_backtranslation import OnlineBackTranslationTask
    from fairseq.trainer import Trainer

    t = {"update_s": 0.0, "bt_gen_s": 0.0, "updates": 0, "all_updates": 0}
    orig_bt, orig_step = OnlineBackTranslationTask.backtranslate_sample, Trainer.train_step

    def timed_bt(self, *a, **k):
        t0 = time.perf_counter()
        try:
            return orig_bt(self, *a, **k)
        finally:
            t["_bt"] = t.get("_bt", 0.0) + time.perf_counter() - t0

    def timed_step(self, *a, **k):
        t["_bt"] = 0.0
        t0 = time.perf_counter()
        result = orig_step(self, *a, **k)
        t["all_updates"] += 1
        if t["all_updates"] > skip:
            t["update_s"] += time.perf_counter() - t0
            t["bt_gen_s"] += t["_bt"]
            t["updates"] += 1
        return result

    OnlineBackTranslationTask.backtranslate_sample = timed_bt
    Trainer.train_step = timed_step
    sys.argv = ["fairseq-train"] + fairseq_args
    try:
        cli_main()
    finally:
        out.write_text(json.dumps({k: v for k, v in t.items() if not k.startswith("_")}))


def wps_after(log: str, skip: int) -> float | None:
    """Mean of fairseq's train_inner ``wps`` over records past ``skip`` updates (tokens/s as fairseq counts)."""
    vals = []
    for line in log.splitlines():
        if "| train_inner |" in line:
            rec = json.loads(line.split("| train_inner | ", 1)[1])
            if int(rec["num_updates"]) > skip:
                vals.append(float(rec["wps"]))
    return sum(vals) / len(vals) if vals else None


def configurations(run: Path, work: Path) -> dict[str, list[str]]:
    from unmt.config import load_recipe
    from unmt.fairseq_run import model_args

    manifest = json.loads((run / "manifest.json").read_text())
    pre = manifest["stages"]["pretrain"]["config"]
    cfg = load_recipe(None, {"langs": pre["langs"], "model": pre["model"], "train": {"lr": 1e-3}})  # the run's model
    src, tgt = cfg.langs[:2]
    t = cfg.train
    common = ["--num-workers", "0", "--log-format", "json", "--log-interval", "5", "--no-save",
              "--disable-validation", "--max-update", None, "--seed", "1", "--optimizer", "adam",
              "--adam-betas", "(0.9,0.98)", "--clip-norm", "1.0", "--lr", str(t.lr), "--lr-scheduler", "inverse_sqrt",
              "--warmup-updates", "10", "--max-tokens", str(t.max_tokens), "--criterion",
              "label_smoothed_cross_entropy", "--label-smoothing", "0.1",
              "--restore-file", str(run / "pretrain/checkpoint_last.pt"), "--reset-optimizer", "--reset-dataloader",
              "--reset-meters", "--reset-lr-scheduler", "--save-dir", str(work / "ckpt")] + model_args(cfg.model)
    bt = [str(run / "prepare/bin"), "--mono-langs", f"{src},{tgt}", "--valid-lang-pairs", f"{src}-{tgt},{tgt}-{src}",
          "--lambda-bt", "1", "--lambda-dae", "1", "--max-word-shuffle-distance", str(t.word_shuffle),
          "--word-dropout-prob", str(t.word_dropout), "--word-blanking-prob", str(t.word_blank)]
    ours = ["--user-dir", str(ROOT / "unmt/plugin"), "--task", "unmt_backtranslation"]
    extra = []
    for kind in ("warm", "mined"):
        d = run / "train" / kind
        if d.exists():
            pairs = sorted({p.name.split(".")[1] for p in d.glob("train.*.bin")})
            extra += [f"--{kind}-data", str(d), f"--{kind}-pairs", ",".join(pairs), f"--lambda-{kind}", "1"]
    # D: the dev pairs as a translation task's training set (its data dir wants dict.SRC.txt / dict.TGT.txt)
    par = work / "parallel"
    par.mkdir(parents=True, exist_ok=True)
    for lang in (src, tgt):
        (par / f"dict.{lang}.txt").write_bytes((run / "prepare/bin/dict.txt").read_bytes())
        for ext in ("bin", "idx"):
            os.symlink(run / f"prepare/bin/valid.{src}-{tgt}.{lang}.{ext}", par / f"train.{src}-{tgt}.{lang}.{ext}")
    return {
        "A fairseq online_backtranslation": bt + ["--task", "online_backtranslation"] + common,
        "B unmt_backtranslation, same work": bt + ours + common,
        "C unmt_backtranslation, + warm + mined": bt + ours + extra + common,
        "D fairseq-train translation, parallel (ceiling)": [str(par), "--task", "translation", "--source-lang", src,
                                                            "--target-lang", tgt, "--share-all-embeddings"] + common,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run-dir", type=Path, default=ROOT / "runs/default", help="a run with pretrain (and train) done")
    ap.add_argument("--updates", type=int, default=40)
    ap.add_argument("--skip", type=int, default=10, help="warm-up updates left out of the timings")
    ap.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args, rest = ap.parse_known_args()
    if args.child:
        child(args.child, args.skip, rest[1:] if rest[:1] == ["--"] else rest)
        return
    rows = {}
    with tempfile.TemporaryDirectory(dir=ROOT / "benchmarks", prefix=".speed.") as work:
        work = Path(work)
        for name, fargs in configurations(args.run_dir, work).items():
            fargs = [str(args.updates) if a is None else a for a in fargs]
            out = work / "timers.json"
            env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
            r = subprocess.run([sys.executable, __file__, "--child", str(out), "--skip", str(args.skip), "--"] + fargs,
                               capture_output=True, text=True, env=env)
            if r.returncode != 0:
                sys.exit(f"{name} failed:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
            t = json.loads(out.read_text())
            rows[name] = {"updates_timed": t["updates"], "updates_per_s": round(t["updates"] / t["update_s"], 3),
                          "tokens_per_s": round(wps_after(r.stdout + r.stderr, args.skip) or 0),
                          "bt_generation_share": round(t["bt_gen_s"] / t["update_s"], 3)}
            print(name, json.dumps(rows[name]), flush=True)
    a = rows["A fairseq online_backtranslation"]
    table = [{"configuration": name, **r, "bt_share": f"{100 * r['bt_generation_share']:.0f}%",
              "updates_vs_a": f"{r['updates_per_s'] / a['updates_per_s']:.3f}",
              "tokens_vs_a": f"{r['tokens_per_s'] / max(1, a['tokens_per_s']):.3f}"} for name, r in rows.items()]
    write_results("training_speed",
                  ["configuration", "updates/s", "tokens/s", "BT generation share of an update", "updates/s vs A",
                   "tokens/s vs A"],
                  ["configuration", "updates_per_s", "tokens_per_s", "bt_share", "updates_vs_a", "tokens_vs_a"],
                  table, {"updates": args.updates, "untimed_first": args.skip},
                  after=f"{args.updates} updates each, the first {args.skip} untimed.")


if __name__ == "__main__":
    main()

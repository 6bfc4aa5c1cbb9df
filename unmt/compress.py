"""Stages lms and compress: the thesis in bits. K(X), K(Y), K(X,Y) and K(Y|X) as code lengths.

    K(X), K(Y)   held-out text of each language coded by a causal LM trained on that language alone
    K(X,Y)       both held-out texts coded by one LM trained on both languages (language tag first)
    saving       K(X) + K(Y) - K(X,Y), in bits and as a fraction of K(X) + K(Y)
    K(Y|X)       the parallel test set's target side coded by the translation model given the source

With more than two languages: K of each language alone, of every recipe pair jointly (its own LM) and
of all languages jointly, the saving of each pair and of all, and a figure of each pair's saving
against its test BLEU (``saving_vs_bleu.png``).

Code length = the model's cross-entropy in bits summed over every SentencePiece token and end of line
of the held-out file, divided by its characters (bits/char) or UTF-8 bytes (bits/byte) -- both counted
with one newline per line, like the file a standard compressor sees -- so models with different
vocabularies, and xz/zstd, are on one scale. Budget: the joint LM gets as many updates as the two
monolingual LMs together, so both sides of the comparison spend the same compute on the same data;
with unrelated languages the saving is then ~0, and whatever sharing the joint model finds shows up
as a positive saving. The LMs' validations (every ``eval_interval`` updates) give the curves;
``unmt_backtranslation``'s validations give K(Y|X) on the dev set beside dev BLEU.

Two stages, so that what reruns is what changed: ``lms`` trains the LMs (``train_code_lms``; they read
only the prepared text), ``compress`` codes with them and with the translation models and writes the
report (``compress_stage``; minutes), so a retrained model or a new decoding does not retrain the LMs.
"""
from __future__ import annotations

import lzma
import math
from pathlib import Path

import numpy as np
import sentencepiece as spm

from unmt.errors import UnmtError
from unmt.fairseq_run import run_fairseq_train
from unmt.io import label_points, read_lines, save_figure, write_lines, write_results, write_text
from unmt.layout import RunLayout, lm_heldout_text, lm_train_text, tok_dir, train_log_in
from unmt.prepare import binarize, encode, lang_token


def text_size(lines: list[str]) -> dict:
    """Characters and UTF-8 bytes of the file these lines make (one newline each)."""
    return {"lines": len(lines), "chars": sum(len(line) + 1 for line in lines),
            "bytes": sum(len(line.encode("utf-8")) + 1 for line in lines)}


def standard_compressors(texts: dict[str, list[str]]) -> dict:
    """xz (LZMA, preset 9e) and zstd (level 19) sizes of each held-out file and of their concatenation."""
    out = {}
    blobs = {name: ("\n".join(lines) + "\n").encode("utf-8") for name, lines in texts.items()}
    blobs["+".join(texts)] = b"".join(blobs.values())
    codecs = {"xz": lambda b: len(lzma.compress(b, preset=9 | lzma.PRESET_EXTREME))}
    try:
        import zstandard

        codecs["zstd"] = lambda b: len(zstandard.ZstdCompressor(level=19).compress(b))
    except ImportError:  # zstandard is an install requirement; keep xz if someone removed it
        pass
    for codec, size in codecs.items():
        out[codec] = {name: 8 * size(blob) for name, blob in blobs.items()}
    return out


def build_lm_data(layout: RunLayout, langs: list[str], heldout: dict[str, list[str]], out: Path,
                  max_len: int) -> tuple[list[str], int]:
    """fairseq language-modeling binaries: train = the languages' training lines, tag first; one valid
    subset per held-out language (valid, valid1, ...). Returns the valid subset names and the longest
    held-out line in tokens (the LM's context must hold it, or fairseq would skip that line)."""
    sp = spm.SentencePieceProcessor(model_file=str(layout.spm_model))
    tok = tok_dir(out)
    train = []
    for lang in langs:
        lines = read_lines(layout.text("train", lang), "training text")
        train += [f"{lang_token(lang)} {p}" for p in encode(sp, lines, max_len)]
    write_lines(lm_train_text(tok), train)
    valid, longest = [], 0
    for i, lang in enumerate(langs):  # held-out lines are never cut: every character is coded
        lines = [f"{lang_token(lang)} {p}" for p in encode(sp, heldout[lang])]
        longest = max([longest] + [len(line.split()) + 1 for line in lines])
        write_lines(lm_heldout_text(tok, lang), lines)
        valid.append("valid" if i == 0 else f"valid{i}")
    binarize(["--only-source", "--srcdict", str(layout.dictionary),
              "--trainpref", str(lm_train_text(tok)),
              "--validpref", ",".join(str(lm_heldout_text(tok, lang)) for lang in langs), "--destdir", str(out)])
    return valid, longest


def heldout_tokens(data_dir: Path, subset: str) -> int:
    """Tokens fairseq scores in a subset (pieces + tag + end of line per line)."""
    from fairseq.data import data_utils

    ds = data_utils.load_indexed_dataset(str(Path(data_dir) / subset), None, "mmap")
    return int(np.asarray(ds.sizes).sum())


def train_lm(cfg, data_dir: Path, out_dir: Path, valid: list[str], updates: int, context: int,
             quiet: bool = True, run_root: Path | None = None) -> Path:
    """A causal transformer LM the size of the translation model's decoder, trained by fairseq."""
    c, m = cfg.compress, cfg.model
    context = max(256, context)
    args = ["--task", "unmt_language_modeling", "--arch", "transformer_lm", "--sample-break-mode", "eos",
            "--tokens-per-sample", str(context), "--max-target-positions", str(context),
            "--max-tokens-valid", str(max(c.max_tokens, context)),
            "--decoder-layers", str(m.layers), "--decoder-embed-dim", str(m.dim),
            "--decoder-ffn-embed-dim", str(m.ffn_dim), "--decoder-attention-heads", str(m.heads),
            "--share-decoder-input-output-embed", "--dropout", str(m.dropout),
            "--optimizer", "adam", "--adam-betas", "(0.9,0.98)", "--clip-norm", "1.0", "--lr", str(c.lr),
            "--lr-scheduler", "inverse_sqrt", "--warmup-updates", str(min(c.warmup_updates, max(1, updates // 4))),
            "--warmup-init-lr", "1e-7", "--max-tokens", str(c.max_tokens),
            "--criterion", "cross_entropy", "--seed", str(cfg.seed), "--valid-subset", ",".join(valid),
            "--validate-interval-updates", str(c.eval_interval), "--validate-interval", "100000"]
    return Path(run_fairseq_train(data_dir, out_dir, args, updates, quiet=quiet, nproc=1, precision=cfg.precision,
                                  save_every=c.eval_interval, run_root=run_root)["checkpoint"])


def lm_curves(train_log: Path, valid: list[str], langs: list[str], tokens: dict[str, int]) -> list[dict]:
    """[{updates, bits: {lang: total bits}}] from fairseq's validation lines (loss = bits/token)."""
    from unmt.train import valid_records

    points: dict[int, dict] = {}
    for subset, fields in valid_records(train_log):
        if subset in valid:
            lang = langs[valid.index(subset)]
            points.setdefault(int(float(fields["num_updates"])), {})[lang] = float(fields["loss"]) * tokens[lang]
    return [{"updates": u, "bits": b} for u, b in sorted(points.items()) if len(b) == len(langs)]


def conditional_bits(tr, src_lines: list[str], tgt_lines: list[str], src: str, tgt: str,
                     batch_size: int = 64) -> float:
    """K(Y|X) under Translator ``tr``: bits of every target token and end of line, teacher-forced, given
    the source sentence."""
    import torch
    from fairseq.data.data_utils import collate_tokens

    d = tr.dict
    t_idx = tr.check_lang(tgt)
    total = 0.0
    with torch.no_grad():
        for idx, src_tokens, src_lengths in tr.batches(src_lines, src, batch_size):
            tgts = [tr.encode(tgt_lines[i], t_idx)[1:] for i in idx]  # pieces + eos, no tag
            prev = collate_tokens(tgts, d.pad(), d.eos(), move_eos_to_beginning=True)
            prev[:, 0] = t_idx  # decoding starts from the target language tag, as in training
            target = collate_tokens(tgts, d.pad()).to(tr.device)
            logits, _ = tr.model(src_tokens, src_lengths, prev.to(tr.device))
            lprobs = torch.log_softmax(logits.float(), dim=-1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
            total -= float(lprobs.masked_fill(target == d.pad(), 0.0).sum()) / math.log(2)
    return total


def lm_groups(cfg) -> dict[str, list[str]]:
    """The LMs to train: {name: languages}. Each language alone, each pair jointly ("en+fr") when there
    are more than two languages, and all of them jointly ("joint")."""
    from unmt.config import pair_list

    groups = {lang: [lang] for lang in cfg.langs}
    if len(cfg.langs) > 2:
        groups |= {f"{a}+{b}": [a, b] for a, b in pair_list(cfg)}
    groups["joint"] = list(cfg.langs)
    return groups


def train_code_lms(cfg, layout: RunLayout, quiet: bool = True, name: str = "lms") -> dict:
    """Train the LMs (each language alone, each pair and all languages jointly) and record each one's
    held-out code length over its updates. They read only the prepared text, so a new translation model
    or new test BLEU reuses them: ``compress_stage`` codes with their results."""
    langs = list(cfg.langs)
    c = cfg.compress
    heldout = {lang: read_lines(layout.text(c.heldout, lang), "held-out text") for lang in langs}
    result: dict = {"langs": langs, "heldout": c.heldout, "sizes": {lang: text_size(heldout[lang]) for lang in langs},
                    "budget_updates": {}, "curves": {}}
    for lm, group in lm_groups(cfg).items():
        data = layout.lm_data(lm, name)
        valid, longest = build_lm_data(layout, group, heldout, data, cfg.prepare.max_len)
        tokens = {lang: heldout_tokens(data, v) for lang, v in zip(group, valid)}
        updates = c.lm_updates * len(group)  # a joint LM gets its languages' monolingual budgets together
        log = train_log_in(train_lm(cfg, data, layout.lm_dir(lm, name), valid, updates, longest, quiet,
                                            layout.root).parent)
        curve = lm_curves(log, valid, group, tokens)
        if not curve:
            raise UnmtError(f"{log}: no validation of the held-out text was logged -- see the log")
        result["curves"][lm] = curve
        result["budget_updates"][lm] = updates
    write_results(layout.results(name), result)
    return result


def compress_stage(cfg, layout: RunLayout, lms: Path, translations: dict | None = None,
                   name: str = "compress") -> dict:
    """From the LMs' results (``train_code_lms``): K of each language, pair and all jointly and the
    savings, beside xz/zstd; and, for each translation model ({name: (train stage, evaluate stage)}; the
    last is the main one), each test side coded given the other, beside that model's test BLEU."""
    import json

    from unmt.config import pair_list
    from unmt.train import read_valid_log

    result = json.loads(Path(lms).read_text(encoding="utf-8"))
    if result["langs"] != list(cfg.langs) or result["heldout"] != cfg.compress.heldout:
        raise UnmtError(f"{lms}: coded {result['langs']} on the {result['heldout']} sets, not this recipe's "
                        f"{list(cfg.langs)} on {cfg.compress.heldout} -- run the lms stage again")
    heldout = {lang: read_lines(layout.text(cfg.compress.heldout, lang), "held-out text") for lang in cfg.langs}
    result["code_length"] = code_lengths(result, result["sizes"], pair_list(cfg))
    result["standard"] = {codec: {k: {"bits": b, "bits_per_char": round(b / _chars(result["sizes"], k), 4)}
                                  for k, b in per.items()}
                          for codec, per in standard_compressors(heldout).items()}
    if translations:
        result["conditional_by_model"] = {
            model: conditional_report(cfg, layout, train, evaluate, result) for model, (train, evaluate) in translations.items()}
        main_model = list(translations)[-1]
        result["conditional"] = result["conditional_by_model"][main_model]
        result["translation_curve"] = read_valid_log(layout.train_log(translations[main_model][0]))
        result["saving_vs_bleu"] = saving_vs_bleu(result, translations[main_model][1], layout)
    write_results(layout.results(name), result)
    write_text(layout.results(name, "md"), compress_table(result))
    plot_compression(result, layout.figure(name, "compression"))
    if len(result.get("saving_vs_bleu", [])) > 1:
        plot_saving_vs_bleu(result["saving_vs_bleu"], layout.figure(name, "saving_vs_bleu"))
    return result["code_length"]["saving"]


def _chars(sizes: dict, key: str) -> int:
    return sum(sizes[k]["chars"] for k in key.split("+"))


def code_lengths(result: dict, sizes: dict, pairs: list[tuple[str, str]] | None = None) -> dict:
    """The final point of each LM: K of each language, their sum, K jointly and the saving, per char
    and per byte; for all languages at the top level and, with more than two, per pair under "pairs"."""
    langs = result["langs"]
    last = {name: curve[-1]["bits"] for name, curve in result["curves"].items()}

    def group(ls: list[str], lm: str) -> dict:
        chars = sum(sizes[l]["chars"] for l in ls)
        nbytes = sum(sizes[l]["bytes"] for l in ls)
        alone = {l: last[l][l] for l in ls}
        separate, joint = sum(alone.values()), sum(last[lm][l] for l in ls)

        def per(bits, lang=None):
            return {"bits": round(bits, 1),
                    "bits_per_char": round(bits / (sizes[lang]["chars"] if lang else chars), 4),
                    "bits_per_byte": round(bits / (sizes[lang]["bytes"] if lang else nbytes), 4)}

        return {**{f"K({l})": per(alone[l], l) for l in ls}, "+".join(f"K({l})" for l in ls): per(separate),
                f"K({','.join(ls)})": per(joint),
                "joint_model_per_language": {l: per(last[lm][l], l) for l in ls},
                "saving": {"bits": round(separate - joint, 1), "fraction": round((separate - joint) / separate, 4),
                           "bits_per_char": round((separate - joint) / chars, 4)}}

    out = group(langs, "joint")
    if len(langs) > 2:
        out["pairs"] = {f"{a}-{b}": group([a, b], f"{a}+{b}") for a, b in pairs or []}
    return out


def saving_vs_bleu(result: dict, evaluate: str, layout: RunLayout) -> list[dict]:
    """Per pair: its joint saving (its own pair LM; with two languages the joint LM) beside its test BLEU
    both ways -- does a pair that compresses better together translate better?"""
    import json

    ev = json.loads(layout.results(evaluate).read_text())["directions"]
    cl = result["code_length"]
    pairs = cl.get("pairs") or {"-".join(result["langs"]): cl}
    points = []
    for pair, rec in pairs.items():
        a, b = pair.split("-")
        bleu = [ev[d]["unmt"]["bleu"] for d in (f"{a}-{b}", f"{b}-{a}") if d in ev]
        points.append({"pair": pair, "saving_fraction": rec["saving"]["fraction"],
                       "saving_bits_per_char": rec["saving"]["bits_per_char"],
                       "bleu": {d: ev[d]["unmt"]["bleu"] for d in (f"{a}-{b}", f"{b}-{a}") if d in ev},
                       "mean_bleu": round(sum(bleu) / len(bleu), 2) if bleu else None})
    return points


def plot_saving_vs_bleu(points: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.8))
    for p in points:
        ax.scatter(100 * p["saving_fraction"], p["mean_bleu"])
    label_points(ax, [(100 * p["saving_fraction"], p["mean_bleu"], p["pair"]) for p in points])
    ax.set(title="joint saving vs translation", xlabel="joint saving of the pair's LM (% of K(X)+K(Y))",
           ylabel="test BLEU, mean of both directions")
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def conditional_report(cfg, layout: RunLayout, train: str, evaluate: str, result: dict) -> dict:
    """K(Y|X) on the parallel test set with train stage ``train``'s model, beside K(Y) and the test BLEU
    that evaluate stage ``evaluate`` measured."""
    import json

    from unmt.config import directions

    test = {lang: read_lines(layout.text("test", lang), "test set") for lang in cfg.langs}
    ev = json.loads(layout.results(evaluate).read_text())
    bleu = {d: s["unmt"]["bleu"] for d, s in ev["directions"].items()}
    from unmt.translate import Translator

    checkpoint = layout.checkpoint(train)
    tr = Translator(checkpoint, layout)  # one load serves both directions
    out = {"checkpoint": layout.in_run(checkpoint)}
    same_text = cfg.compress.heldout == "test"  # then K(Y) from the LMs is on exactly these lines
    for s, t in directions(cfg):
        bits = conditional_bits(tr, test[s], test[t], s, t)
        chars = text_size(test[t])["chars"]
        rec = {"bits": round(bits, 1), "bits_per_char": round(bits / chars, 4), "test_bleu": bleu.get(f"{s}-{t}")}
        if same_text:
            k_t = result["curves"][t][-1]["bits"][t]
            rec |= {f"K({t})_bits_per_char": round(k_t / chars, 4),
                    "information_from_source_bits_per_char": round((k_t - bits) / chars, 4)}
        out[f"K({t}|{s})"] = rec
    return out


def compress_table(r: dict) -> str:
    langs, cl = r["langs"], r["code_length"]
    everything = "+".join(langs)
    rows = ["| code | bits/char | bits/byte | bits |", "|---|---|---|---|"]
    for key in [f"K({l})" for l in langs] + ["+".join(f"K({l})" for l in langs), f"K({','.join(langs)})"]:
        rows.append(f"| {key} | {cl[key]['bits_per_char']} | {cl[key]['bits_per_byte']} | {cl[key]['bits']:.0f} |")
    for codec, per in r["standard"].items():
        rows.append(f"| {codec} {everything} (separately / together) | "
                    f"{round(sum(per[l]['bits'] for l in langs) / _chars(r['sizes'], everything), 4)} / "
                    f"{per[everything]['bits_per_char']} | | |")
    s = cl["saving"]
    sep = "+".join(f"K({l})" for l in langs)
    out = "\n".join(rows) + (f"\n\nJoint saving {sep}-K({','.join(langs)}) = {s['bits']:.0f} bits = "
                             f"{100 * s['fraction']:.2f}% ({s['bits_per_char']} bits/char). Held-out: the {r['heldout']} "
                             "sets, " + " + ".join(str(r['sizes'][l]['lines']) for l in langs) + " lines; LM updates: "
                             + ", ".join(f"{k} {v}" for k, v in r["budget_updates"].items()) + ".\n")
    if cl.get("pairs"):
        bleu = {p["pair"]: p for p in r.get("saving_vs_bleu", [])}
        out += ("\n| pair | K(X)+K(Y) bits/char | K(X,Y) bits/char | joint saving | test BLEU (both ways) |"
                "\n|---|---|---|---|---|\n")
        for pair, g in cl["pairs"].items():
            a, b = pair.split("-")
            tb = bleu.get(pair, {}).get("bleu", {})
            out += (f"| {pair} | {g[f'K({a})+K({b})']['bits_per_char']} | {g[f'K({a},{b})']['bits_per_char']} "
                    f"| {100 * g['saving']['fraction']:.2f}% | {' / '.join(str(v) for v in tb.values()) or '-'} |\n")
    if "conditional_by_model" in r:
        out += ("\n| translation model | code | bits/char | K(target) bits/char | information from source | test BLEU |"
                "\n|---|---|---|---|---|---|\n")
        for name, cond in r["conditional_by_model"].items():
            for key, rec in cond.items():
                if not key.startswith("K("):
                    continue
                t = key[2:key.index("|")]
                out += (f"| {name} | {key.replace('|', chr(92) + '|')} | {rec['bits_per_char']} "
                        f"| {rec.get(f'K({t})_bits_per_char', '')} | {rec.get('information_from_source_bits_per_char', '')} "
                        f"| {rec.get('test_bleu', '')} |\n")
    return out


def plot_compression(r: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    langs = r["langs"]
    everything = "+".join(langs)
    chars = _chars(r["sizes"], everything)
    panels = 2 if r.get("translation_curve") else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 3.8), squeeze=False)
    ax = axes[0][0]
    # the monolingual LMs at update u are compared with the joint LM at N*u: the same compute spent
    mono = [{p["updates"]: p["bits"][l] for p in r["curves"][l]} for l in langs]
    shared = sorted(set.intersection(*(set(m) for m in mono)))
    sep = [(len(langs) * u, sum(m[u] for m in mono) / chars) for u in shared]
    joint = [(p["updates"], sum(p["bits"][l] for l in langs) / chars) for p in r["curves"]["joint"]]
    ax.plot(*zip(*sep), marker="o", label="+".join(f"K({l})" for l in langs) + " (separate LMs)")
    ax.plot(*zip(*joint), marker="s", label=f"K({','.join(langs)}) (joint LM)")
    for codec, per in r["standard"].items():
        ax.axhline(per[everything]["bits_per_char"], ls="--", lw=0.8, color="grey")
        ax.annotate(codec, (joint[0][0], per[everything]["bits_per_char"]), fontsize=7, color="grey", va="bottom")
    ax.set(title="held-out code length", xlabel="LM updates (total over the models compared)", ylabel="bits/char")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    if panels == 2:
        ax = axes[0][1]
        pairs = sorted({k[len("bleu_"):] for p in r["translation_curve"] for k in p if k.startswith("bleu_")})
        for pair in pairs:
            pts = [(p[f"bleu_{pair}"], p[f"bpc_{pair}"]) for p in r["translation_curve"]
                   if f"bleu_{pair}" in p and f"bpc_{pair}" in p]
            src, tgt = pair.split("-")
            if pts:
                ax.plot(*zip(*pts), marker="o", label=f"K({tgt}|{src}) dev")
        ax.set(title="conditional code length vs dev BLEU", xlabel="dev BLEU (greedy)", ylabel="bits/char")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    save_figure(fig, path)

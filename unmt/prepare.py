"""Stage 1 — prepare: corpus directory -> joint SentencePiece model -> fairseq binaries.

Writes (file names: ``unmt/layout.py``): the joint SentencePiece model over every language's training
side (balanced), the raw lines used (train deduplicated, dev/test aligned across languages), one fairseq
dictionary for every language (+ <mask>, __en__, __fr__, ...), each language's monolingual training
binaries in its own folder, and the aligned dev (fairseq's "valid") and test sets of every direction.
"""
from __future__ import annotations

import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import sentencepiece as spm

from unmt.errors import UnmtError, fail
from unmt.io import read_lines, write_lines
from unmt.layout import SPLITS, RunLayout
from unmt.segment import character_coverage

SPECIALS = ("<mask>",)


def lang_token(lang: str) -> str:
    return f"__{lang}__"


def corpus_files(corpus: Path, langs) -> dict[str, Path]:
    """Map logical names (train.en, dev.fr, ...) to files in a corpus dir (plain or .xz)."""
    files = {}
    for split in SPLITS:
        for lang in langs:
            for name in (f"{split}.{lang}", f"{split}.{lang}.xz"):
                if (corpus / name).exists():
                    files[f"{split}.{lang}"] = corpus / name
                    break
            else:
                raise fail(corpus / f"{split}.{lang}[.xz]", "corpus file not found",
                           "build the corpus (python -m data_prep.build_corpus; News Crawl: data_prep.news_corpus, "
                           "as the recipe's header says) or fix `corpus:` in the recipe")
    return files


def train_sentencepiece(lines_by_lang: dict[str, list[str]], prefix: Path, vocab_size: int, seed: int) -> None:
    """Joint model over an equal number of lines per language, so neither language owns the vocabulary."""
    n = min(len(v) for v in lines_by_lang.values())
    rng = random.Random(seed)
    sample = [line for v in lines_by_lang.values() for line in rng.sample(v, n)]
    with tempfile.TemporaryDirectory(dir=prefix.parent, prefix=".spm-input.") as scratch:  # removed afterwards
        tmp = Path(scratch) / "input.txt"
        tmp.write_text("\n".join(sample) + "\n", encoding="utf-8")
        try:
            spm.SentencePieceTrainer.train(
                input=str(tmp), model_prefix=str(prefix), vocab_size=vocab_size,
                character_coverage=character_coverage(lines_by_lang),
                model_type="unigram", input_sentence_size=2_000_000, shuffle_input_sentence=True,
                num_threads=2, minloglevel=2, bos_id=-1, eos_id=-1, pad_id=-1, unk_id=0,
            )
        except RuntimeError as e:
            need = re.search(r"smaller than required_chars\. (\d+) vs (\d+)", str(e))
            if need:
                raise UnmtError(f"prepare.vocab_size {vocab_size} is fewer pieces than the characters this corpus "
                                f"needs ({need.group(2)}: Chinese or Japanese text has thousands) -- raise "
                                "prepare.vocab_size in the recipe") from None
            if "Vocabulary size too high" not in str(e):
                raise UnmtError(f"{prefix}.model: SentencePiece training failed ({str(e).splitlines()[0][:200]}) "
                                "-- check free disk space and the corpus") from None
            most = str(e).rsplit("<=", 1)[-1].strip(" .")
            raise UnmtError(f"prepare.vocab_size {vocab_size} is more pieces than this corpus has (at most {most}) "
                            "-- lower prepare.vocab_size in the recipe") from None


def write_dictionary(sp: spm.SentencePieceProcessor, path: Path, langs) -> None:
    """fairseq dictionary = every SentencePiece piece (fixed order) + mask + one tag per language.

    Writing it from the SentencePiece vocabulary, not from counts, keeps it identical for every
    language and every run on the same model: the checkpoint/dictionary mismatch cannot happen silently.
    """
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size()) if sp.id_to_piece(i) != "<unk>"]
    extra = list(SPECIALS) + [lang_token(lang) for lang in langs]
    write_lines(path, (f"{p} 1" for p in pieces + extra))


def encode(sp, lines, max_len: int | None = None):
    out = []
    for line in lines:
        pieces = sp.encode(line, out_type=str)
        if max_len:
            pieces = pieces[:max_len]
        out.append(" ".join(pieces))
    return out


def binarize(args: list[str]) -> None:
    cmd = [sys.executable, "-m", "fairseq_cli.preprocess", "--workers", "2", "--dataset-impl", "mmap"] + args
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise UnmtError(f"fairseq-preprocess failed: {r.stderr.strip().splitlines()[-1] if r.stderr else r.returncode}")


def prepare(files: dict[str, Path], layout: RunLayout, langs, vocab_size: int = 8000,
            max_len: int = 128, max_train_lines: int | None = None, max_eval_lines: int | None = None,
            seed: int = 1, directions=None) -> dict:
    """``files``: {"train.en": path, ...} from ``corpus_files``; writes the prepare stage's files. ``directions``:
    the (src, tgt) dev/test binaries to write (default: the first two languages, both ways)."""
    first = langs[0]
    directions = directions or [(langs[0], langs[1]), (langs[1], langs[0])]
    text = {k: [l.strip() for l in read_lines(p) if l.strip()] if k.startswith("train") else read_lines(p)
            for k, p in files.items()}
    for split in ("dev", "test"):
        for other in langs[1:]:
            if len(text[f"{split}.{first}"]) != len(text[f"{split}.{other}"]):
                raise fail(files[f"{split}.{other}"], f"has {len(text[f'{split}.{other}'])} lines but "
                           f"{files[f'{split}.{first}'].name} has {len(text[f'{split}.{first}'])}",
                           "dev/test sides must be aligned line by line")
        if max_eval_lines:
            for lang in langs:
                text[f"{split}.{lang}"] = text[f"{split}.{lang}"][:max_eval_lines]
    for lang in langs:
        lines = list(dict.fromkeys(text[f"train.{lang}"]))  # dedupe, keep order
        if max_train_lines:
            lines = lines[:max_train_lines]
        text[f"train.{lang}"] = lines
    for k, lines in text.items():
        write_lines(layout.text(*k.split(".")), lines)
    train_sentencepiece({l: text[f"train.{l}"] for l in langs}, layout.spm_prefix, vocab_size, seed)
    sp = spm.SentencePieceProcessor(model_file=str(layout.spm_model))
    for k, lines in text.items():
        write_lines(layout.tok(*k.split(".")), encode(sp, lines, max_len if k.startswith("train") else None))
    bin_dir = layout.bin_dir
    write_dictionary(sp, layout.dictionary, langs)
    for lang in langs:
        out = layout.mono_bin(lang)
        binarize(["--only-source", "--srcdict", str(layout.dictionary), "--trainpref", str(layout.tok("train")),
                  "--source-lang", lang, "--destdir", str(out)])
        for ext in ("bin", "idx"):
            (out / f"train.{lang}-None.{lang}.{ext}").rename(out / f"train.{ext}")
        (out / f"dict.{lang}.txt").unlink()
    for a, b in directions:
        binarize(["--srcdict", str(layout.dictionary), "--tgtdict", str(layout.dictionary),
                  "--validpref", str(layout.tok("dev")), "--testpref", str(layout.tok("test")),
                  "--source-lang", a, "--target-lang", b, "--destdir", str(bin_dir)])
    for f in bin_dir.glob("dict.??.txt"):
        f.unlink()
    stats = {k: len(v) for k, v in text.items()}
    stats["vocab_size"] = len(layout.dictionary.read_text(encoding="utf-8").splitlines())
    stats["train_tokens"] = {l: sum(len(s.split()) for s in layout.tok("train", l).open(encoding="utf-8"))
                             for l in langs}
    return stats

"""Stage 1 — prepare: corpus directory -> joint SentencePiece model -> fairseq binaries.

Writes (file names: ``unmt/layout.py``): the joint SentencePiece model over every language's training
side (balanced), the raw lines used (train deduplicated, dev/test aligned across languages), one fairseq
dictionary for every language (+ <mask>, __en__, __fr__, ...), each language's monolingual training
binaries in its own folder, and the aligned dev (fairseq's "valid") and test sets of every direction.
"""
from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import subprocess
import sys
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path

import sentencepiece as spm

from unmt.config import PrepareConfig
from unmt.errors import UnmtError, fail
from unmt.io import atomic_path, iter_lines, read_lines, write_lines
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


@contextlib.contextmanager
def _working_directory(path: Path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def train_sentencepiece(lines_by_lang: dict[str, list[str]], prefix: Path, vocab_size: int, seed: int) -> None:
    """Joint model over an equal number of lines per language, so neither language owns the vocabulary."""
    n = min(len(v) for v in lines_by_lang.values())
    rng = random.Random(seed)
    sample = [line for v in lines_by_lang.values() for line in rng.sample(v, n)]
    # the model records the paths it was trained from: relative ones, from a scratch folder of a fixed name,
    # so the same text gives the same spm.model bytes in any run folder (and every digest downstream with it)
    scratch = prefix.parent / ".spm-input"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    (scratch / "input.txt").write_text("\n".join(sample) + "\n", encoding="utf-8")
    try:
        with _working_directory(scratch):
            try:
                spm.SentencePieceTrainer.train(
                    input="input.txt", model_prefix=os.path.join("..", prefix.name), vocab_size=vocab_size,
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
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def write_dictionary(sp: spm.SentencePieceProcessor, path: Path, langs) -> None:
    """fairseq dictionary = every SentencePiece piece (fixed order) + mask + one tag per language.

    Writing it from the SentencePiece vocabulary, not from counts, keeps it identical for every
    language and every run on the same model: the checkpoint/dictionary mismatch cannot happen silently.
    """
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size()) if sp.id_to_piece(i) != "<unk>"]
    extra = list(SPECIALS) + [lang_token(lang) for lang in langs]
    write_lines(path, (f"{p} 1" for p in pieces + extra))


def encode(sp, lines, max_len: int | None = None) -> list[str]:
    """SentencePiece pieces of each line, space-joined (what fairseq's binarizer reads), cut to ``max_len``."""
    return [" ".join(pieces[:max_len] if max_len else pieces)
            for pieces in sp.encode(list(lines), out_type=str, num_threads=1)]


def binarize(args: list[str]) -> None:
    cmd = [sys.executable, "-m", "fairseq_cli.preprocess", "--workers", "2", "--dataset-impl", "mmap"] + args
    from unmt.fairseq_run import die_with_parent

    r = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=die_with_parent)
    if r.returncode != 0:
        raise UnmtError(f"fairseq-preprocess failed: {r.stderr.strip().splitlines()[-1] if r.stderr else r.returncode}")


def prepare(files: dict[str, Path], layout: RunLayout, langs, p: PrepareConfig, seed: int = 1, directions=None,
            progress=print) -> dict:
    """``files``: {"train.en": path, ...} from ``corpus_files``; writes the prepare stage's files with ``p``'s
    settings. ``directions``: the (src, tgt) dev/test binaries to write (default: the first two languages,
    both ways).

    ``p.shard_lines`` set: the training sides are streamed (``prepare_train_streaming``) -- memory set by the
    shard and the SentencePiece sample, not by the corpus. Unset: held in memory, the laptop-corpus path."""
    vocab_size, max_len, max_train_lines, max_eval_lines = p.vocab_size, p.max_len, p.max_train_lines, p.max_eval_lines
    shard_lines, spm_sample_lines, workers = p.shard_lines, p.spm_sample_lines, p.workers
    directions = directions or [(langs[0], langs[1]), (langs[1], langs[0])]
    text = read_eval_sets(files, langs, max_eval_lines)
    for k, lines in text.items():
        write_lines(layout.text(*k.split(".")), lines)
    if shard_lines:
        samples, counts = {}, {}
        for lang in langs:
            samples[lang], counts[lang] = sample_lines(files[f"train.{lang}"], spm_sample_lines, max_train_lines, seed)
            progress(f"[prepare] {lang}: {counts[lang]:,} training lines, {len(samples[lang]):,} sampled for SentencePiece")
        train_sentencepiece(samples, layout.spm_prefix, vocab_size, seed)
        del samples
        sp = spm.SentencePieceProcessor(model_file=str(layout.spm_model))
        write_dictionary(sp, layout.dictionary, langs)
        count = max(1, -(-max(counts.values()) // shard_lines))
        train_stats = prepare_train_streaming(files, layout, langs, max_len, max_train_lines, count,
                                              workers or os.cpu_count() or 1, progress)
    else:
        for lang in langs:
            lines = list(dict.fromkeys(l.strip() for l in read_lines(files[f"train.{lang}"]) if l.strip()))
            text[f"train.{lang}"] = lines[:max_train_lines] if max_train_lines else lines  # deduped, order kept
            write_lines(layout.text("train", lang), text[f"train.{lang}"])
        train_sentencepiece({l: text[f"train.{l}"] for l in langs}, layout.spm_prefix, vocab_size, seed)
        sp = spm.SentencePieceProcessor(model_file=str(layout.spm_model))
        write_dictionary(sp, layout.dictionary, langs)
        train_stats = {}
        for lang in langs:
            tok = encode(sp, text.pop(f"train.{lang}"), max_len)
            write_lines(layout.tok("train", lang), tok)
            out = layout.mono_bin(lang)
            binarize(["--only-source", "--srcdict", str(layout.dictionary), "--trainpref", str(layout.tok("train")),
                      "--source-lang", lang, "--destdir", str(out)])
            for ext in ("bin", "idx"):
                (out / f"train.{lang}-None.{lang}.{ext}").rename(out / f"train.{ext}")
            (out / f"dict.{lang}.txt").unlink()
            train_stats[lang] = {"lines": len(tok), "tokens": sum(len(s.split()) for s in tok)}
    for k, lines in text.items():
        write_lines(layout.tok(*k.split(".")), encode(sp, lines))
    for a, b in directions:
        binarize(["--srcdict", str(layout.dictionary), "--tgtdict", str(layout.dictionary),
                  "--validpref", str(layout.tok("dev")), "--testpref", str(layout.tok("test")),
                  "--source-lang", a, "--target-lang", b, "--destdir", str(layout.bin_dir)])
    for f in layout.bin_dir.glob("dict.??.txt"):
        f.unlink()
    stats = {k: len(v) for k, v in text.items()}
    stats |= {f"train.{l}": s["lines"] for l, s in train_stats.items()}
    stats["vocab_size"] = len(layout.dictionary.read_text(encoding="utf-8").splitlines())
    stats["train_tokens"] = {l: s["tokens"] for l, s in train_stats.items()}
    if shard_lines:
        stats["train_shards"] = {l: s["shards"] for l, s in train_stats.items()}
    return stats


def read_eval_sets(files: dict[str, Path], langs, max_eval_lines: int | None) -> dict[str, list[str]]:
    """dev/test of every language, checked to be aligned line by line across languages."""
    first = langs[0]
    text = {k: read_lines(p) for k, p in files.items() if not k.startswith("train")}
    for split in ("dev", "test"):
        for other in langs[1:]:
            if len(text[f"{split}.{first}"]) != len(text[f"{split}.{other}"]):
                raise fail(files[f"{split}.{other}"], f"has {len(text[f'{split}.{other}'])} lines but "
                           f"{files[f'{split}.{first}'].name} has {len(text[f'{split}.{first}'])}",
                           "dev/test sides must be aligned line by line")
        if max_eval_lines:
            for lang in langs:
                text[f"{split}.{lang}"] = text[f"{split}.{lang}"][:max_eval_lines]
    return text


# -- streaming: corpora bigger than memory ---------------------------------------------------------------

def training_lines(path: Path, max_lines: int | None):
    """A training file's non-empty, stripped lines, at most ``max_lines`` of them, read one at a time."""
    n = 0
    for line in iter_lines(path):
        line = line.strip()
        if line:
            yield line
            n += 1
            if max_lines and n >= max_lines:
                return


def sample_lines(path: Path, k: int, max_lines: int | None, seed: int) -> tuple[list[str], int]:
    """``k`` lines drawn uniformly from the file in one pass and O(k) memory (reservoir sampling, Algorithm R),
    and the number of lines: what SentencePiece trains on when the corpus is streamed, and how many shards."""
    rng = random.Random(seed)
    sample: list[str] = []
    n = 0
    for n, line in enumerate(training_lines(path, max_lines), 1):
        if n <= k:
            sample.append(line)
        else:
            j = int(rng.random() * n)
            if j < k:
                sample[j] = line
    return sample, n


def shard_of(line: str, n_shards: int) -> int:
    """Equal lines always land in the same shard, so deduplicating each shard deduplicates the corpus;
    crc32, not ``hash()``, so the split is the same in every process and every run."""
    return zlib.crc32(line.encode("utf-8")) % n_shards


def prepare_train_streaming(files, layout: RunLayout, langs, max_len: int, max_train_lines: int | None,
                            count: int, workers: int, progress=print) -> dict:
    """Each language's training side, streamed: partitioned by line hash into ``count`` shards, then each shard
    deduplicated, SentencePiece-encoded and binarized by fairseq's own binarizer in its own process. Writes
    ``bin/shardNNN/{lang}/train.{bin,idx}`` (fairseq's online-BT task reads the ``shard*`` folders one per
    epoch, so every language has the same count) and ``text/train.{lang}`` (the shards' lines, concatenated).
    ``max_train_lines`` here counts lines before deduplication (the in-memory path counts after)."""
    scratch = layout.shard_scratch
    shutil.rmtree(scratch, ignore_errors=True)
    stats = {}
    jobs = []
    for lang in langs:
        paths = [layout.shard_lines(lang, i) for i in range(count)]
        scratch.mkdir(parents=True, exist_ok=True)
        handles = [p.open("w", encoding="utf-8") for p in paths]
        try:
            for line in training_lines(files[f"train.{lang}"], max_train_lines):
                handles[shard_of(line, count)].write(line + "\n")
        finally:
            for h in handles:
                h.close()
        progress(f"[prepare] {lang}: partitioned into {count} shard(s)")
        jobs += [(lang, i, str(p), str(layout.shard_lines(lang, i, deduplicated=True)), str(layout.spm_model),
                  str(layout.dictionary), str(layout.shard_bin(i, lang)), max_len) for i, p in enumerate(paths)]
    done: dict[tuple[str, int], tuple[int, int]] = {}
    # an executor, not multiprocessing.Pool: a worker killed (out of memory) fails the stage instead of hanging it;
    # spawned, not forked: a worker holds its shard, not a copy of this process (SentencePiece's sample, torch)
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_prepare_shard, job) for job in jobs]
        for future in as_completed(futures):
            try:
                lang, i, n_lines, n_tokens = future.result()
            except BrokenProcessPool:
                raise UnmtError(f"{scratch}: a shard worker died (out of memory?) -- lower prepare.shard_lines or "
                                "prepare.workers and rerun") from None
            done[lang, i] = (n_lines, n_tokens)
            progress(f"[prepare] {lang} shard {i + 1}/{count}: {n_lines:,} lines, {n_tokens:,} pieces "
                     f"({len(done)}/{len(jobs)} shards done)")
    for lang in langs:
        with atomic_path(layout.text("train", lang)) as tmp, tmp.open("wb") as out:
            for i in range(count):
                with open(layout.shard_lines(lang, i, deduplicated=True), "rb") as f:
                    shutil.copyfileobj(f, out)
        stats[lang] = {"lines": sum(done[lang, i][0] for i in range(count)),
                       "tokens": sum(done[lang, i][1] for i in range(count)), "shards": count}
    shutil.rmtree(scratch)
    return stats


def _prepare_shard(job) -> tuple[str, int, int, int]:
    """One shard in one worker: dedupe, encode, binarize. Memory: this shard's lines, nothing more."""
    from fairseq.binarizer import FileBinarizer, VocabularyDatasetBinarizer
    from fairseq.data import Dictionary

    lang, i, path, dedup_path, spm_model, dict_path, out_prefix, max_len = job
    with open(path, encoding="utf-8") as f:
        lines = list(dict.fromkeys(line.rstrip("\n") for line in f))
    os.unlink(path)
    write_lines(dedup_path, lines)
    sp = spm.SentencePieceProcessor(model_file=spm_model)
    tok, n_tokens = path + ".tok", 0
    with open(tok, "w", encoding="utf-8") as f:
        for start in range(0, len(lines), 10_000):
            for line in encode(sp, lines[start:start + 10_000], max_len):
                n_tokens += len(line.split())
                f.write(line + "\n")
    n_lines = len(lines)
    del lines
    Path(out_prefix).parent.mkdir(parents=True, exist_ok=True)
    d = Dictionary.load(dict_path)
    FileBinarizer.multiprocess_dataset(tok, "mmap", VocabularyDatasetBinarizer(d, append_eos=True), out_prefix,
                                       vocab_size=len(d), num_workers=1)
    os.unlink(tok)
    return lang, i, n_lines, n_tokens

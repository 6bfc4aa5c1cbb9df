"""Streamed preparation (``prepare.shard_lines``): training sides hash-partitioned into shards, each deduplicated,
encoded and binarized by fairseq in its own process; fairseq's online-BT task reads one shard per epoch."""
from __future__ import annotations

import lzma
import re

import pytest
import sentencepiece as spm

from conftest import CORPUS, unmt
from unmt.config import PrepareConfig
from unmt.errors import UnmtError
from unmt.layout import RunLayout
from unmt.prepare import corpus_files, prepare, shard_of


def shard_sentences(layout: RunLayout, shard: int, lang: str) -> list[str]:
    from fairseq.data import Dictionary, data_utils

    d = Dictionary.load(str(layout.dictionary))
    ds = data_utils.load_indexed_dataset(str(layout.bin_dir / f"shard{shard:03d}" / lang / "train"), d, "mmap")
    return [d.string(ds[i]) for i in range(len(ds))]


def first_lines(lang: str, n: int) -> list[str]:
    with lzma.open(CORPUS / f"train.{lang}.xz", "rt", encoding="utf-8") as f:
        lines = [l.strip() for l in f if l.strip()]
    return lines[:n]


def test_streamed_prepare_partitions_dedupes_and_trains_shard_by_shard(tmp_path):
    run = tmp_path / "run"
    unmt("prepare", "recipes/tests/tiny.yaml", "--run-dir", run, "--set", "prepare.shard_lines=150")
    layout = RunLayout(run)
    sp = spm.SentencePieceProcessor(model_file=str(layout.spm_model))
    for lang in ("en", "fr"):
        wanted = set(first_lines(lang, 400))       # tiny: max_train_lines 400, taken before deduplication
        shards = [shard_sentences(layout, i, lang) for i in range(3)]
        assert not (layout.bin_dir / "shard003").exists()
        text = layout.text("train", lang).read_text(encoding="utf-8").splitlines()
        assert sorted(text) == sorted(wanted)      # every line once, across all shards
        encoded = {" ".join(sp.encode(line, out_type=str)[:40]): line for line in text}
        seen = []
        for i, sentences in enumerate(shards):
            assert sentences and len(set(sentences)) == len(sentences)
            for s in sentences:
                assert shard_of(encoded[s], 3) == i    # the line's hash decides its shard
            seen += sentences
        assert sorted(seen) == sorted(encoded)
    # the training task reads one shard per epoch and validates on the aligned sets beside them
    unmt("pretrain", "recipes/tests/tiny.yaml", "--run-dir", run, "--set", "prepare.shard_lines=150")
    log = (run / "pretrain" / "train.log").read_text()
    assert re.search(r"shard000/en/train", log) and re.search(r"shard001/en/train", log)
    from unmt.translate import load_model

    _, task = load_model(layout.checkpoint("pretrain"), layout)
    assert task.data == [str(layout.bin_dir / f"shard{i:03d}") for i in range(3)]
    assert task.has_sharded_data("train") and not task.has_sharded_data("valid")
    task.load_dataset("valid")                     # from bin/, beside the shards, not from the first shard
    assert len(task.datasets["valid"]) == len(layout.text("dev", "en").read_text().splitlines())


def test_streamed_output_does_not_depend_on_the_worker_count(tmp_path):
    files = corpus_files(CORPUS, ["en", "fr"])
    lines = first_lines("en", 250)
    files["train.en"] = tmp_path / "train.en"
    files["train.en"].write_text("\n".join(lines + lines[:50] + [""]) + "\n", encoding="utf-8")  # 50 repeats
    outs = []
    for workers in (1, 2):
        layout = RunLayout(tmp_path / f"w{workers}")
        p = PrepareConfig(vocab_size=300, max_len=40, max_train_lines=300, max_eval_lines=30, shard_lines=120,
                          spm_sample_lines=200, workers=workers)
        stats = prepare(files, layout, ("en", "fr"), p, 1, progress=lambda _: None)
        assert stats["train_shards"] == {"en": 3, "fr": 3}
        assert stats["train.en"] == 250 == len(set(layout.text("train", "en").read_text().splitlines()))
        outs.append({p.relative_to(layout.root): p.read_bytes() for p in sorted((layout.root / "prepare").rglob("*"))
                     if p.is_file() and p.suffix in {".bin", ".idx", ".vocab"} or p.parent.name == "text"})  # .model names its path
    assert outs[0].keys() == outs[1].keys() and outs[0] == outs[1]


def test_streamed_prepare_names_a_bad_file(tmp_path):
    files = corpus_files(CORPUS, ["en", "fr"])
    bad = tmp_path / "train.fr"
    bad.write_bytes("une ligne\n".encode() + b"\xff\xfe latin-1 \xe9t\xe9\n")
    with pytest.raises(UnmtError, match=r"train\.fr.*not valid UTF-8"):
        p = PrepareConfig(vocab_size=300, max_len=40, max_train_lines=300, max_eval_lines=30, shard_lines=120,
                          spm_sample_lines=200)
        prepare({**files, "train.fr": bad}, RunLayout(tmp_path / "run"), ("en", "fr"), p, 1, progress=lambda _: None)

"""Translate raw lines with a trained checkpoint, in either direction (the model is shared).

The source is ``__src__ pieces </s>`` and decoding starts from ``__tgt__`` — exactly the format
the ``online_backtranslation`` task trains on, so what we score is what was trained.
"""
from __future__ import annotations

import copy
import functools

from pathlib import Path

import sentencepiece as spm
import torch

from unmt.errors import UnmtError, fail
from unmt.fairseq_run import read_checkpoint
from unmt.generation import make_generator
from unmt.layout import RunLayout
from unmt.prepare import lang_token


def load_model(checkpoint: Path, layout: RunLayout):
    """Load a fairseq checkpoint against the run's dictionary; explain a vocabulary mismatch in one line."""
    import argparse

    from fairseq import checkpoint_utils

    import unmt.plugin  # noqa: F401  registers our tasks so their checkpoints load

    checkpoint, data_dir = Path(checkpoint), layout.bin_dir
    if not checkpoint.exists():
        raise fail(checkpoint, "checkpoint not found", "train first (`unmt train`) or pass --checkpoint")
    # read safely first (weights_only): a file that would run code is refused before fairseq unpickles it
    read_checkpoint(checkpoint)
    if not layout.dictionary.exists():
        raise fail(layout.dictionary, "dictionary not found", "run `unmt prepare` for this run directory")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):  # fairseq's own torch.load, weights only
            models, cfg, task = checkpoint_utils.load_model_ensemble_and_task(
                [str(checkpoint)], arg_overrides={"data": str(data_dir), "user_dir": str(Path(__file__).parent / "plugin")})
    except UnmtError:
        raise
    except Exception as e:  # noqa: BLE001 -- whatever a file that is no checkpoint raises (pickle, zip, KeyError)
        msg = (str(e).splitlines() or [type(e).__name__])[0][:200]
        if "size mismatch" in str(e):
            raise fail(checkpoint, f"was trained with another dictionary than {data_dir}/dict.txt ({msg})",
                       "translate with the prepare/ directory of the run that trained this checkpoint") from None
        raise fail(checkpoint, f"cannot be read as a fairseq checkpoint ({msg})",
                   "it is corrupt or truncated: re-run the stage, which resumes from checkpoint_last.pt") from None
    model = models[0].eval()
    n_dict, n_emb = len(task.dictionary), model.encoder.embed_tokens.num_embeddings
    if n_dict != n_emb:
        raise fail(checkpoint, f"has {n_emb} embeddings but {data_dir}/dict.txt has {n_dict} symbols",
                   "use the prepare/ directory of the run that trained this checkpoint")
    return model, task


def _evaluated(layout: RunLayout) -> dict:
    """The run's evaluate stage's results.json ({} before evaluation): what it decoded and scored."""
    import json

    path = layout.results("evaluate")
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def run_decoding(layout: RunLayout, beam: int | None = None, lenpen: float | None = None,
                 no_repeat_ngram: int | None = None) -> tuple[int, float, int]:
    """The decoding to use with a run's model: what is given, else what the run's evaluate stage scored with
    (its results.json), else greedy. The vocabulary restriction needs no default: the checkpoint carries it."""
    scored = _evaluated(layout).get("decoding", {})
    return (beam if beam is not None else int(scored.get("beam", 1)),
            lenpen if lenpen is not None else float(scored.get("lenpen", 1.0)),
            no_repeat_ngram if no_repeat_ngram is not None else int(scored.get("no_repeat_ngram", 0)))


def scored_checkpoint(layout: RunLayout) -> Path:
    """The checkpoint the run's evaluate stage scored (last or best, of the last mining round); before
    evaluation, the last mining round's final checkpoint (train, train2, ...)."""
    from unmt.layout import round_name

    scored = Path(_evaluated(layout).get("checkpoint", ""))
    here = layout.dir(scored.parent.name) / scored.name  # the run folder may have moved since
    if scored.name and here.exists():
        return here
    rnd = 1
    while layout.checkpoint(round_name("train", rnd + 1)).exists():
        rnd += 1
    return layout.checkpoint(round_name("train", rnd))


# source lines are cut to this many pieces (the model has 256 positions: tag, pieces, end of line)
MAX_SOURCE_PIECES = 250


class Translator:
    """A trained checkpoint with the run's SentencePiece model and dictionary (``layout``: the run's files)."""

    def __init__(self, checkpoint: Path, layout: RunLayout, beam: int = 1, lenpen: float = 1.0,
                 no_repeat_ngram: int = 0):
        self.model, self.task = load_model(checkpoint, layout)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model.to(self.device)
        self.dict = self.task.dictionary
        self.sp = spm.SentencePieceProcessor(model_file=str(layout.spm_model))
        langs = self.task.args.mono_langs.split(",") if hasattr(self.task, "args") else []
        self.langs = langs
        self.lang_ids = {self.dict.index(lang_token(l)) for l in langs}
        self.beam, self.lenpen, self.no_repeat_ngram = beam, lenpen, no_repeat_ngram
        self.cut = 0  # input lines cut to MAX_SOURCE_PIECES so far

    @functools.cached_property
    def generator(self):
        """Built at the first translation: a model trained with --target-vocab-min-count decodes as it was
        trained to (the task reads the option from the checkpoint and counts pieces in prepare/bin, which
        stages that only encode -- mining, code lengths -- then never read); other tasks have no such search."""
        search = getattr(self.task, "target_vocabulary_search", lambda: None)()
        return make_generator(self.model, self.dict, self.beam, search=search, lenpen=self.lenpen,
                              no_repeat_ngram=self.no_repeat_ngram)

    def decoding(self, beam: int, lenpen: float = 1.0, no_repeat_ngram: int | None = None) -> "Translator":
        """The same loaded model decoding another way: its own generator (built by ``make_generator``, like
        every other), the model shared, not loaded again."""
        other = copy.copy(self)
        other.__dict__.pop("generator", None)  # the cached generator belongs to this translator's decoding
        other.beam, other.lenpen = beam, lenpen
        if no_repeat_ngram is not None:
            other.no_repeat_ngram = no_repeat_ngram
        return other

    def check_lang(self, lang: str) -> int:
        idx = self.dict.index(lang_token(lang))
        if idx == self.dict.unk():
            raise UnmtError(f"unknown language '{lang}': this model knows {','.join(self.langs)} -- pick one of those")
        return idx

    def encode(self, line: str, src_idx: int, max_len: int = MAX_SOURCE_PIECES) -> torch.Tensor:
        pieces = self.sp.encode(line, out_type=str)
        self.cut += len(pieces) > max_len  # the model's positions end there: said by whoever reads ``cut``
        pieces = " ".join(pieces[:max_len])
        ids = self.dict.encode_line(pieces, add_if_not_exist=False, append_eos=True).long()
        return torch.cat([torch.tensor([src_idx]), ids])

    def batches(self, lines: list[str], lang: str, batch_size: int = 64, max_len: int = MAX_SOURCE_PIECES,
                longest_first: bool = False):
        """The one batched encoder every model pass uses (translate, sentence and word vectors, K(Y|X)):
        yields (line indices, padded ``__lang__ pieces </s>`` tokens, lengths) on the model's device."""
        from fairseq.data import data_utils

        src_idx = self.check_lang(lang)
        encoded = [self.encode(line, src_idx, max_len) for line in lines]
        order = list(range(len(lines)))
        if longest_first:  # fewer pads per batch in generation
            order.sort(key=lambda i: -len(encoded[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            toks = [encoded[i] for i in idx]
            yield (idx, data_utils.collate_tokens(toks, self.dict.pad(), left_pad=False).to(self.device),
                   torch.tensor([len(t) for t in toks], device=self.device))

    def detokenize(self, tokens) -> str:
        return self.dict.string(tokens, "sentencepiece", extra_symbols_to_ignore=self.lang_ids | {self.dict.eos()})

    @torch.no_grad()
    def translate(self, lines: list[str], src: str, tgt: str, batch_size: int = 64, progress=None) -> list[str]:
        tgt_idx = self.check_lang(tgt)
        out: list[str] = [""] * len(lines)
        for idx, src_tokens, src_lengths in self.batches(lines, src, batch_size, longest_first=True):
            sample = {"net_input": {"src_tokens": src_tokens, "src_lengths": src_lengths}}
            hypos = self.generator.generate([self.model], sample, bos_token=tgt_idx)
            for i, hyp in zip(idx, hypos):
                out[i] = self.detokenize(hyp[0]["tokens"])
            if progress:
                progress(len(idx))
        return out

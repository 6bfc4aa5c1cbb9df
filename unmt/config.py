"""Typed recipe configuration: dataclasses, named presets, YAML recipes that override them.

A recipe file names a preset and overrides any field; ``unmt run RECIPE --dump-config`` prints the
fully resolved configuration. Every field is checked once, when the recipe loads (``check_recipe``,
XLM's ``check_*_params``): its type and allowed values come from the annotations below (``Literal``
for choices) and its range from ``field(metadata=...)``, so a bad value is a one-line error naming the
file, the field and what is allowed before any stage runs or any file is written.
"""
from __future__ import annotations

import copy
import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

import yaml

from unmt.errors import UnmtError, fail
from unmt.segment import check_language


def _at_least(lo, default, help: str, **kw):
    return field(default=default, metadata={"min": lo, "help": help, **kw})


def _prob(default, help: str):
    return field(default=default, metadata={"min": 0.0, "max": 1.0, "help": help})


def _schedule(default, help: str):
    """An XLM-style ``step:value`` schedule ("0:1,500:0.3") or a constant ("1")."""
    return field(default=default, metadata={"schedule": True, "help": help})


def _opt(default, help: str, **kw):
    """A field without a range: its type (``Literal`` choices, bool, str...) is the check."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


def _section(cls, help: str):
    return field(default_factory=cls, metadata={"help": help})


Precision = Literal["fp32", "fp16", "bf16"]
AlignVectors = Literal["ppmi", "encoder", "embedding", "vec"]
AlignMethod = Literal["identical", "vecmap", "adversarial", "context"]
AdversarialStart = Literal["pca", "identity"]
AlignCriterion = Literal["frequency", "muse"]
MineEncoder = Literal["lexicon", "model", "hybrid"]
LaterEncoder = Literal["model", "hybrid"]
# how forward (source->target) and backward nearest neighbours combine: one switch, as MUSE's dico_build
DicoMode = Literal["forward", "backward", "max", "intersect"]
IndexKind = Literal["auto", "flat", "ivf", "ivfpq", "sharded"]
WarmStart = Literal["none", "wbw", "mined", "wbw+mined"]
EvalCheckpoint = Literal["last", "best"]
Heldout = Literal["test", "dev"]
BtPartners = Literal["rotate", "all"]

_TEMPERATURE_HELP = ("language sampling temperature T (XLM's alpha = 1/T): language l's share of the monolingual "
                     "batches is p_l ~ n_l^(1/T) (n_l: its training lines), 1 = as the data, larger = flatter; null "
                     "= every language every update (uniform, T -> infinity)")
_BATCH_SENTENCES_HELP = ("sentences per batch (fairseq --batch-size), per language or direction; with max_tokens "
                         "high, every key of an update gets exactly this many, so runs with other languages beside "
                         "a pair give that pair the same examples (equal per-direction compute); null = by tokens")


@dataclass
class PrepareConfig:
    """Joint SentencePiece vocabulary and fairseq binaries of every language (unmt/prepare.py)."""
    vocab_size: int = _at_least(50, 8000, "joint SentencePiece vocabulary size (all languages together)")
    max_len: int = _at_least(1, 100, "training lines are cut to this many pieces (bounds back-translation memory)")
    max_train_lines: Optional[int] = _at_least(1, None, "training lines per language; null = all")
    max_eval_lines: Optional[int] = _at_least(1, None, "dev and test lines; null = all")
    shard_lines: Optional[int] = _at_least(
        1, None, "stream the training sides in hash-partitioned shards of about this many lines, each deduplicated "
                 "and binarized in its own process (News Crawl scale); null = in memory", late=True)
    spm_sample_lines: int = _at_least(100, 300_000, "streamed: lines per language SentencePiece trains on",
                                      only_if=lambda p: p.shard_lines)
    workers: Optional[int] = _at_least(1, None, "streamed: shard processes; null = every core", no_effect=True)


@dataclass
class ModelConfig:
    """The one shared transformer (encoder-decoder, language tag first) every stage trains."""
    layers: int = _at_least(1, 3, "encoder and decoder layers (each)")
    dim: int = _at_least(8, 256, "embedding and hidden size")
    ffn_dim: int = _at_least(8, 1024, "feed-forward inner size")
    heads: int = _at_least(1, 4, "attention heads")
    dropout: float = _prob(0.1, "dropout of every layer")


@dataclass
class PretrainConfig:
    """Shared denoising LM over every language (language tag first): BART/mBART-style pretraining."""
    max_update: int = _at_least(1, 550, "update budget: the same recipe does the same work on any machine")
    lr: float = _at_least(0.0, 1e-3, "peak learning rate (inverse-sqrt decay after warm-up)", exclusive=True)
    warmup_updates: int = _at_least(0, 150, "linear warm-up updates")
    max_tokens: int = _at_least(1, 2500, "tokens per batch, per language")
    update_freq: int = _at_least(1, 1, "batches accumulated per update")
    word_shuffle: float = _at_least(0.0, 3.0, "noise: each word moves up to this many positions (0 = off)")
    word_dropout: float = _prob(0.1, "noise: share of words dropped")
    word_blank: float = _prob(0.2, "noise: share of words replaced by a blank")
    sampling_temperature: Optional[float] = _at_least(0.0, None, _TEMPERATURE_HELP, exclusive=True, late=True)
    batch_sentences: Optional[int] = _at_least(1, None, _BATCH_SENTENCES_HELP, late=True)
    max_minutes: Optional[float] = _at_least(
        0.0, 30, "wall-clock safety net (fairseq --stop-time-hours); a run it cuts is reported as cut; null = none",
        exclusive=True)


@dataclass
class AlignConfig:
    """Bilingual lexicon induction without parallel data (unmt/align/): word vectors, methods, selection."""
    vectors: AlignVectors = _opt("ppmi", "word vectors: ppmi (monolingual PPMI+SVD), encoder (shared-LM states), "
                                         "embedding (the LM's table) or vec (vec_files)")
    vec_files: Optional[dict[str, str]] = _opt(None, "with vectors: vec, {lang: PATH.vec} in word2vec text format")
    methods: list[AlignMethod] = _opt(["identical"], "unsupervised methods to run (identical, vecmap, adversarial, "
                                                     "context); the selection criterion picks the lexicon",
                                      nonempty=True)
    criterion: AlignCriterion = _opt("frequency", "how methods are ranked without gold data: frequency (frequency-rank "
                                                  "agreement of the translations) or muse (mean CSLS cosine)",
                                     only_if=lambda a: len(a.methods) > 1)
    max_words: int = _at_least(10, 10000, "most frequent words per language that get a vector")
    min_count: int = _at_least(1, 2, "words seen fewer times get no vector")
    window: int = _at_least(1, 5, "co-occurrence window (ppmi vectors and context), words each side")
    dim: int = _at_least(2, 300, "vector size after SVD")
    max_lines: Optional[int] = _at_least(1, None, "training lines read per language; null = all")
    iterations: int = _at_least(0, 5, "refinement iterations (Procrustes on the induced dictionary)")
    max_rank: int = _at_least(10, 3000, "the refinement dictionary is built among this many most frequent words")
    max_rank_ratio: float = _at_least(1.0, 2.0, "identical-string seeds must have frequency ranks within this ratio")
    adversarial_steps: int = _at_least(1, 3000, "adversarial method: discriminator/mapping steps")
    adversarial_start: AdversarialStart = _opt("pca", "adversarial method's start: pca (principal axes matched, sign "
                                                      "by skew) or identity (MUSE's)")
    stochastic_interval: int = _at_least(1, 10, "VecMap: iterations without gain before keep_prob doubles")


@dataclass
class MineConfig:
    """Margin-scored mining of the two training pools (unmt/mine.py); the pairs warm-start ``train``."""
    encoder: MineEncoder = _opt("lexicon", "sentence vectors from lexicon (aligned word vectors + translated tokens), "
                                           "model (the LM encoder) or hybrid (both)")
    token_weight: float = _prob(0.3, "lexicon encoder: share of the hashed translated-token part")
    k: int = _at_least(1, 4, "neighbours in the margin score (Artetxe & Schwenk 2019)")
    mode: DicoMode = _opt("intersect", "how forward and backward best matches combine: forward, backward, max, "
                                       "intersect")
    index: IndexKind = _opt("auto", "faiss index: auto (exact up to 200k sentences, IVF above), flat, ivf, ivfpq, "
                                    "sharded (pools on disk, IVF-PQ, memory independent of pool size)")
    hash_dim: int = _at_least(8, 4096, "lexicon encoder: size of the hashed-token part", late=True)
    threshold: float = _opt(1.0, "minimum ratio margin of a mined pair")
    min_tokens: int = _at_least(0, 3, "sentences with fewer tokens are not mined")
    max_length_ratio: float = _at_least(1.0, 2.0, "pairs whose lengths differ more than this ratio are dropped")
    max_pairs: Optional[int] = _at_least(1, None, "keep at most this many pairs, best first; null = all")
    planted_filler: int = _at_least(0, 5000, "unrelated sentences per language around the planted dev pairs (P/R)")
    rounds: int = _at_least(1, 1, "CRISS-style rounds: > 1 re-encodes with the trained model and mines again")
    later_encoder: LaterEncoder = _opt("hybrid", "rounds 2+: hybrid (lexicon + previous model) or model")
    round_updates: int = _at_least(1, 300, "fine-tuning updates of each round after the first")
    round_minutes: Optional[float] = _at_least(0.0, 20, "each later round's wall-clock safety net; null = none",
                                               exclusive=True)


@dataclass
class TrainConfig:
    """Denoising + online back-translation (XLM-style ``step:value`` schedules for the lambdas)."""
    max_update: int = _at_least(1, 700, "update budget: the same recipe does the same work on any machine")
    max_minutes: Optional[float] = _at_least(0.0, 60, "wall-clock safety net, reported when it cuts; null = none",
                                             exclusive=True)
    lr: float = _at_least(0.0, 5e-4, "peak learning rate (inverse-sqrt decay after warm-up)", exclusive=True)
    warmup_updates: int = _at_least(0, 100, "linear warm-up updates")
    max_tokens: int = _at_least(1, 1500, "tokens per batch, per language or direction")
    update_freq: int = _at_least(1, 1, "batches accumulated per update")
    sampling_temperature: Optional[float] = _at_least(0.0, None, _TEMPERATURE_HELP, exclusive=True, late=True)
    batch_sentences: Optional[int] = _at_least(1, None, _BATCH_SENTENCES_HELP, late=True)
    bt_partners: BtPartners = _opt("rotate", "a language in several pairs back-translates into one partner per update, "
                                             "in turn (rotate: equal total updates), or into every partner every "
                                             "update (all: each direction gets as many back-translations as alone)",
                                   late=True)
    lambda_dae: str = _schedule("0:1,500:0.3", "weight of the denoising loss, 'step:value,...' or a constant")
    lambda_bt: str = _schedule("0:0,100:0.5,400:1", "weight of back-translation; it starts once the warm start has "
                                                    "moved the model off copying")
    word_shuffle: float = _at_least(0.0, 3.0, "denoising noise: each word moves up to this many positions")
    word_dropout: float = _prob(0.1, "denoising noise: share of words dropped")
    word_blank: float = _prob(0.1, "denoising noise: share of words replaced by a blank")
    init_from_pretrain: bool = _opt(True, "start from the pretrained LM (false: from random weights)")
    warm_start: WarmStart = _opt("wbw+mined", "pseudo-parallel warm start: wbw (word-by-word translations from the "
                                              "lexicon), mined (the mine stage's pairs, both ways), wbw+mined, none")
    lambda_warm: str = _schedule("0:1,500:0", "weight of the word-by-word pairs (at 0 the batch is skipped)")
    lambda_mined: str = _schedule("1", "weight of the mined pairs")
    validate_interval_updates: int = _at_least(0, 100, "dev loss, K(Y|X) and dev BLEU every N updates; 0 = never")
    valid_bleu: bool = _opt(True, "compute dev BLEU (greedy) at each validation")
    valid_sentences: int = _at_least(0, 400, "dev sentences per direction at each validation: one random sample, "
                                             "the same for every run and seed (0 = the whole dev set)")
    target_vocab_min_count: int = _at_least(
        0, 0, "decode into a language only with pieces its training text uses this often (0 = any piece); for "
              "pairs in different scripts", late=True)
    target_vocab_min_ratio: float = field(default=0.0, metadata={
        "min": 0.0, "max": 1.0, "late": True,
        "help": "decode into a language only with pieces at least this share as frequent in its own training text "
                "as in another's (0 = off); for pairs in one script whose texts quote each other"})


@dataclass
class CompressConfig:
    """Code lengths K(X), K(Y), K(X,Y), K(Y|X) (unmt/compress.py): causal LMs the size of the model."""
    enabled: bool = _opt(True, "run the lms and compress stages (after evaluate)")
    lm_updates: int = _at_least(1, 100, "updates of each monolingual LM; the joint LM gets their sum (equal compute)")
    max_tokens: int = _at_least(1, 4096, "tokens per LM batch")
    lr: float = _at_least(0.0, 1e-3, "LM peak learning rate", exclusive=True)
    warmup_updates: int = _at_least(0, 100, "LM warm-up updates")
    eval_interval: int = _at_least(1, 50, "held-out code length every N updates (the curves)")
    heldout: Heldout = _opt("test", "held-out text the code lengths are measured on: test or dev")


@dataclass
class EvalConfig:
    """Test-set translation and scoring (unmt/evaluate.py); `unmt translate` decodes the same way."""
    beam: int = _at_least(1, 1, "beam size (1 = greedy)")
    lenpen: float = _at_least(0.0, 1.0, "length penalty: hypotheses ranked by score / length**lenpen (> 1: longer); "
                                        "beam > 1 only; choose on dev with `python -m eval.lenpen`", late=True)
    no_repeat_ngram: int = _at_least(0, 0, "no n-gram of pieces twice in one output (fairseq's "
                                           "--no-repeat-ngram-size); 0 = off; choose on dev with "
                                           "`python -m eval.lenpen --no-repeat 0,3,4`", late=True)
    batch_size: int = _at_least(1, 64, "sentences per decoding batch")
    max_lines: Optional[int] = _at_least(1, None, "test lines per direction; null = all")
    checkpoint: EvalCheckpoint = _opt("last", "last (the final checkpoint: no parallel data touches the model) or "
                                              "best (best mean dev BLEU, XLM practice)")


@dataclass
class RecipeConfig:
    """A recipe: languages, corpus, and one section per stage."""
    name: str = field(default="default", metadata={"pattern": "name",
                                                   "help": "run name; the run folder is runs/<name> by default"})
    preset: str = _opt("cpu-default", "named preset applied under the recipe (unmt/config.py PRESETS)")
    langs: list[str] = _opt(["en", "fr"], "language codes; every one is pretrained and denoised")
    pairs: Optional[list[str]] = _opt(None, "translation pairs 'src-tgt', each trained and scored both ways; "
                                            "null = langs[0] with each other language")
    corpus: str = _opt("corpora/libreoffice-en-fr", "corpus folder with {train,dev,test}.LANG files")
    dictionary_test: Optional[str] = _opt(
        "corpora/libreoffice-en-fr/dict.en-fr.test.txt",
        "MUSE-format test dictionary for P@1 ('{pair}' in the path with several pairs); its .train. sibling seeds "
        "the supervised reference")
    seed: int = _opt(1, "random seed of every stage")
    nproc: int = _at_least(1, 1, "data-parallel fairseq workers (torchrun): GPUs, or CPU processes")
    precision: Precision = _opt("fp32", "fp32, fp16 or bf16; on a CPU bf16 autocasts training steps where the CPU "
                                        "has native bf16, else runs fp32")
    prepare: PrepareConfig = _section(PrepareConfig, PrepareConfig.__doc__)
    model: ModelConfig = _section(ModelConfig, ModelConfig.__doc__)
    pretrain: PretrainConfig = _section(PretrainConfig, PretrainConfig.__doc__)
    align: AlignConfig = _section(AlignConfig, AlignConfig.__doc__)
    mine: MineConfig = _section(MineConfig, MineConfig.__doc__)
    train: TrainConfig = _section(TrainConfig, TrainConfig.__doc__)
    evaluate: EvalConfig = _section(EvalConfig, EvalConfig.__doc__)
    compress: CompressConfig = _section(CompressConfig, CompressConfig.__doc__)
    supervised_ceiling: bool = _opt(False, "also train the same model on the training sides' true translations "
                                           "and score it as the 'supervised' row")
    ablation: Optional[dict[str, dict]] = _opt(None, "{variant: train overrides}: train and evaluate each variant "
                                                     "instead of one model")


# Named presets: partial dicts applied over the dataclass defaults, before the recipe's own fields.
# A preset is a VecMap-style named setting: what it holds and why is in docs/findings.md.
_CPU = {"precision": "bf16", "train": {"lr": 1e-3}}
PRESETS: dict[str, dict] = {
    # cpu-default: update-bounded stages sized for 2 CPU cores, bf16 autocast where the CPU has it, UNMT
    # lr 1e-3, and the measured-best choices: context lexicon, decoding restricted by piece-frequency ratio,
    # beam 4 with length penalty 2 (docs/findings.md, "The default recipe's choices")
    "cpu-default": {**_CPU, "align": {"methods": ["identical", "context"]},
                    "train": {**_CPU["train"], "target_vocab_min_ratio": 0.1},
                    "evaluate": {"beam": 4, "lenpen": 2.0}},
    # cpu-identical-greedy: cpu-default as it was before those three choices (identical-string lexicon,
    # unrestricted greedy decoding): the runs published with it (ablation, CRISS) reproduce by name
    "cpu-identical-greedy": copy.deepcopy(_CPU),
    # gpu: one GPU (H200-class), bf16, a 6-layer 512-d model, big batches; ~6 min pretraining + 8 min UNMT
    # (time-bounded on purpose: the GPU goal is BLEU after 8 minutes)
    "gpu": {
        "precision": "bf16",
        "model": {"layers": 6, "dim": 512, "ffn_dim": 2048, "heads": 8, "dropout": 0.1},
        "pretrain": {"max_update": 20000, "max_tokens": 32000, "lr": 7e-4, "warmup_updates": 500, "max_minutes": 6},
        "train": {"max_update": 20000, "max_tokens": 16000, "lr": 3e-4, "warmup_updates": 200, "max_minutes": 8,
                  "validate_interval_updates": 250, "valid_sentences": 1000},
        "evaluate": {"beam": 4, "batch_size": 256},
    },
    # tiny: a few hundred lines and a 1-layer 64-d model; every stage runs for real in seconds (tests).
    "tiny": {
        "prepare": {"vocab_size": 500, "max_len": 40, "max_train_lines": 400, "max_eval_lines": 60},
        "model": {"layers": 1, "dim": 64, "ffn_dim": 128, "heads": 2, "dropout": 0.0},
        "pretrain": {"max_update": 12, "warmup_updates": 4, "max_tokens": 800, "max_minutes": None},
        "align": {"max_words": 500, "iterations": 2, "max_rank": 300, "dim": 50},
        "mine": {"planted_filler": 200, "threshold": 0.0, "round_updates": 3},
        "train": {"max_update": 6, "warmup_updates": 2, "max_tokens": 400, "lambda_dae": "1", "lambda_bt": "1",
                  "max_minutes": None, "validate_interval_updates": 3, "valid_sentences": 16},
        "evaluate": {"max_lines": 40},
        "compress": {"lm_updates": 4, "eval_interval": 2, "max_tokens": 1000, "warmup_updates": 2},
    },
}


# ----------------------------------------------------------------------------- checking
def _allowed(tp) -> str:
    """What a type annotation admits, in words (for the error message)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return "one of " + ", ".join(map(str, args))
    if origin is typing.Union:
        return " or ".join("null" if a is type(None) else _allowed(a) for a in args)
    if origin is list:
        return f"a list of {_allowed(args[0])}"
    if origin is tuple:
        return f"a list of {len(args)} values, each {_allowed(args[0])}"
    if origin is dict:
        return f"a mapping of {_allowed(args[0])} to {_allowed(args[1])}"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, str(tp))


def _fits(value, tp) -> bool:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return isinstance(value, str) and value in args
    if origin is typing.Union:
        return any(value is None if a is type(None) else _fits(value, a) for a in args)
    if origin is list:
        return isinstance(value, list) and all(_fits(v, args[0]) for v in value)
    if origin is tuple:
        return isinstance(value, (list, tuple)) and len(value) == len(args) and all(map(_fits, value, args))
    if origin is dict:
        return isinstance(value, dict) and all(_fits(k, args[0]) and _fits(v, args[1]) for k, v in value.items())
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, tp)


def check_schedule(text: str) -> str | None:
    """None if ``text`` is a constant ("1") or a ``step:value,...`` schedule with increasing steps
    (fairseq's PiecewiseLinearFn), else what is wrong with it."""
    try:
        points = [p.split(":") for p in text.split(",")]
        if len(points) == 1 and len(points[0]) == 1:
            float(points[0][0])
            return None
        if any(len(p) != 2 for p in points):
            return "not a 'step:value,...' schedule"
        steps = [int(p[0]) for p in points]
        [float(p[1]) for p in points]
    except ValueError:
        return "not a number or a 'step:value,...' schedule"
    return None if steps == sorted(set(steps)) else "a schedule whose steps do not increase"


def _check_value(value, tp, meta: dict, where: str, name: str) -> None:
    if not _fits(value, tp):
        raise UnmtError(f"{where}: {name}: {value!r} is not {_allowed(tp)} -- fix it in the recipe "
                        "(`unmt run RECIPE --dump-config` shows every field)")
    if value is None or isinstance(value, (bool, str, list, dict, tuple)):
        if meta.get("nonempty") and not value:
            raise UnmtError(f"{where}: {name}: must not be empty -- give {_allowed(tp)}")
        if meta.get("schedule") and (problem := check_schedule(value)):
            raise UnmtError(f"{where}: {name}: {value!r} is {problem} -- write e.g. '0:1,500:0.3' or '1'")
        if meta.get("pattern") == "name" and (not value or "/" in value or value.startswith(".")):
            raise UnmtError(f"{where}: {name}: {value!r} -- a run name is one folder name (no '/', not hidden)")
        return
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and (value < lo or (meta.get("exclusive") and value == lo)):
        raise UnmtError(f"{where}: {name}: {value} -- must be {'above' if meta.get('exclusive') else 'at least'} {lo}")
    if hi is not None and value > hi:
        raise UnmtError(f"{where}: {name}: {value} -- must be at most {hi}")


def check_config(dc, where: str, prefix: str = "") -> None:
    """Check every field of a config dataclass (recursively) against its annotation and metadata."""
    hints = typing.get_type_hints(type(dc))
    for f in dataclasses.fields(dc):
        value, name = getattr(dc, f.name), prefix + f.name
        if dataclasses.is_dataclass(value):
            check_config(value, where, name + ".")
        elif name == "ablation":
            continue  # checked variant by variant in check_recipe
        else:
            _check_value(value, hints[f.name], dict(f.metadata), where, name)


def check_recipe(cfg: RecipeConfig, where: str) -> None:
    """Every field, then the cross-field rules (XLM's check_*_params). Raises UnmtError, writes nothing."""
    check_config(cfg, where)
    if len(cfg.langs) < 2 or len(set(cfg.langs)) != len(cfg.langs) \
            or not all(l.isidentifier() and "__" not in l for l in cfg.langs):
        raise UnmtError(f"{where}: langs: {list(cfg.langs)} -- give two or more different language codes, "
                        "e.g. [en, fr] or [en, fr, de, es, zh]")
    for lang in cfg.langs:
        check_language(lang, f"{where}: langs")
    check_pairs(cfg, where)
    if cfg.dictionary_test and len(cfg.pairs) > 1 and "{pair}" not in cfg.dictionary_test:
        raise UnmtError(f"{where}: dictionary_test: {cfg.dictionary_test!r} names one file for {len(cfg.pairs)} "
                        "pairs -- write its path with {pair} in it, e.g. corpora/X/dict.{pair}.test.txt")
    if cfg.align.vectors == "vec":
        missing = [l for l in cfg.langs if not (cfg.align.vec_files or {}).get(l)]
        if missing:
            raise UnmtError(f"{where}: align.vec_files: no .vec file for {', '.join(missing)} "
                            "-- add {lang: PATH.vec} for each language, or choose another align.vectors")
    if "context" in cfg.align.methods and cfg.align.vectors != "ppmi":
        raise UnmtError(f"{where}: align.methods: 'context' reads the text's PPMI contexts, which only align.vectors: "
                        f"ppmi builds (here '{cfg.align.vectors}') -- set align.vectors: ppmi or drop 'context'")
    if cfg.ablation is not None:
        if not isinstance(cfg.ablation, dict):
            raise UnmtError(f"{where}: ablation: {cfg.ablation!r} is not a mapping of variant name to train "
                            "fields -- see recipes/ablation/ablation-en-fr.yaml")
        if not cfg.ablation:
            raise UnmtError(f"{where}: ablation: is empty -- name at least one variant, or remove the section")
        for variant, overrides in cfg.ablation.items():
            if "/" in variant or not variant:
                raise UnmtError(f"{where}: ablation: {variant!r} -- a variant name is one folder name")
            ablation_variant(cfg, variant, where)
    for c in [cfg] + [ablation_variant(cfg, v, where) for v in cfg.ablation or {}]:
        t = c.train
        if cfg.evaluate.checkpoint == "best" and not (t.valid_bleu and t.validate_interval_updates):
            raise UnmtError(f"{where}: evaluate.checkpoint: 'best' needs dev BLEU during training "
                            "-- set train.valid_bleu: true and train.validate_interval_updates > 0, or use 'last'")
    if cfg.evaluate.lenpen != 1.0 and cfg.evaluate.beam == 1:
        raise UnmtError(f"{where}: evaluate.lenpen: {cfg.evaluate.lenpen} acts only in beam search and evaluate.beam "
                        "is 1 (greedy) -- set evaluate.beam to the beam you chose the penalty with (e.g. 4)")
    if cfg.supervised_ceiling and cfg.ablation:
        raise UnmtError(f"{where}: supervised_ceiling: an ablation recipe has no main model to put the ceiling beside "
                        "-- set it in the recipe without the ablation section")
    if cfg.mine.rounds > 1 and "mined" not in cfg.train.warm_start:
        raise UnmtError(f"{where}: mine.rounds: {cfg.mine.rounds} -- later rounds fine-tune on mined pairs; "
                        "set train.warm_start to 'mined' or 'wbw+mined', or rounds: 1")


def check_pairs(cfg: RecipeConfig, where: str) -> None:
    """Resolve ``pairs`` (null = langs[0] with each other language) and check each names two of ``langs``;
    writes the resolved list back, so `--dump-config` and the manifest show the pairs trained."""
    if cfg.pairs is None:
        cfg.pairs = [f"{cfg.langs[0]}-{other}" for other in cfg.langs[1:]]
    seen = set()
    for pair in cfg.pairs:
        parts = pair.split("-")
        if len(parts) != 2 or parts[0] == parts[1] or not all(p in cfg.langs for p in parts):
            raise UnmtError(f"{where}: pairs: {pair!r} -- a pair is 'src-tgt' with two different languages of "
                            f"langs ({', '.join(cfg.langs)}), e.g. {cfg.langs[0]}-{cfg.langs[1]}")
        if frozenset(parts) in seen:
            raise UnmtError(f"{where}: pairs: {pair!r} is given twice (a pair trains both ways) -- list it once")
        seen.add(frozenset(parts))
    if not cfg.pairs:  # a language in no pair is still pretrained and denoised (a helper language)
        raise UnmtError(f"{where}: pairs: empty -- name at least one, e.g. {cfg.langs[0]}-{cfg.langs[1]}")


def pair_list(cfg) -> list[tuple[str, str]]:
    """The recipe's pairs as (src, tgt) tuples, in recipe order."""
    pairs = cfg.pairs if cfg.pairs is not None else [f"{cfg.langs[0]}-{o}" for o in cfg.langs[1:]]
    return [tuple(p.split("-")) for p in pairs]


def directions(cfg) -> list[tuple[str, str]]:
    """Every direction trained and scored: each pair both ways (src-tgt, then tgt-src)."""
    return [d for s, t in pair_list(cfg) for d in ((s, t), (t, s))]


def dictionary_for(cfg, src: str, tgt: str) -> Path | None:
    """The test dictionary of one pair (None: not configured); it may not exist (P@1 not available)."""
    if not cfg.dictionary_test:
        return None
    return Path(cfg.dictionary_test.replace("{pair}", f"{src}-{tgt}"))


def supervised_variant(cfg: RecipeConfig) -> RecipeConfig:
    """The recipe as the supervised ceiling trains it: the train section's model, start and budget, on the
    true parallel pairs only (the mined-pairs path of the training task), no denoising, no back-translation."""
    out = dataclasses.replace(copy.deepcopy(cfg.train), warm_start="mined", lambda_mined="1", lambda_bt="0",
                              lambda_dae="0", lambda_warm="0")
    return dataclasses.replace(copy.deepcopy(cfg), train=out)


def ablation_variant(cfg: RecipeConfig, variant: str, where: str = "recipe") -> RecipeConfig:
    """The recipe as ablation variant ``variant`` trains it: its ``train`` overrides over the recipe's."""
    overrides = cfg.ablation[variant]
    if not isinstance(overrides, dict):
        raise UnmtError(f"{where}: ablation.{variant}: must be a mapping of train fields")
    out = _merge(copy.deepcopy(cfg.train), overrides, where, f"ablation.{variant}.")
    out = dataclasses.replace(copy.deepcopy(cfg), train=out)
    check_config(out.train, where, f"ablation.{variant}.")
    return out


# fields a recipe may still name from before, and what replaced them
RETIRED = {"train.valid_batches": "use train.valid_sentences (dev sentences per direction; a batch count read "
                                  "only the shortest lines, fairseq batching a dev set shortest first)"}


def _merge(dc, updates: dict, where: str, prefix: str = "", origin: dict | None = None):
    """Apply ``updates`` (a recipe's or preset's fields) over config dataclass ``dc``; ``where`` names the
    file, ``prefix`` the section (``train.``) for the one-line error. ``origin`` ({dotted field: where}) is
    told who set each field, for ``--explain``."""
    if not isinstance(updates, dict):
        raise UnmtError(f"{where}: {prefix.rstrip('.') or 'recipe'}: must be a mapping of fields (key: value), "
                        f"got {updates!r}")
    for key, value in updates.items():
        if f"{prefix}{key}" in RETIRED:
            raise UnmtError(f"{where}: {prefix}{key}: no longer a field -- {RETIRED[prefix + key]}")
        if not isinstance(key, str) or not hasattr(dc, key) or key.startswith("_"):
            raise UnmtError(f"{where}: {prefix}{key}: unknown field -- see `unmt run RECIPE --dump-config --explain` "
                            "for the fields")
        current = getattr(dc, key)
        if dataclasses.is_dataclass(current):
            _merge(current, value, where, f"{prefix}{key}.", origin)
        else:
            # YAML reads 1e-3 as a string ("1e-3"): accept a number written that way for a number field
            if isinstance(value, str) and isinstance(current, float) and not isinstance(current, bool):
                try:
                    value = float(value)
                except ValueError:
                    pass
            setattr(dc, key, tuple(value) if isinstance(current, tuple) and isinstance(value, list) else value)
            if origin is not None:
                origin[prefix + key] = where
    return dc


def parse_overrides(items) -> dict:
    """``["prepare.vocab_size=8000", "corpus=corpora/x"]`` -> the nested mapping a recipe would hold (values
    read as YAML, so numbers, lists and null mean what they mean in a recipe)."""
    out: dict = {}
    for item in items or ():
        key, sep, text = item.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise UnmtError(f"--set: '{item}' is not KEY=VALUE -- e.g. --set train.max_update=2000")
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            value = text
        *sections, field_name = key.split(".")
        node = out
        for section in sections:
            node = node.setdefault(section, {})
            if not isinstance(node, dict):
                raise UnmtError(f"--set: '{key}' sets a field inside one set on its own -- set each field once")
        node[field_name] = value
    return out


class _DuplicateKey(Exception):
    def __init__(self, key, line: int):
        super().__init__(key, line)
        self.key, self.line = key, line


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error (YAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise _DuplicateKey(key, key_node.start_mark.line + 1)
            seen.add(key)
        return super().construct_mapping(node, deep)


# what every recipe must name itself (or through the recipe it extends): an empty or comments-only file would
# otherwise be the default recipe under the default name, and rerun that run's folder
REQUIRED = ("name", "corpus")


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise fail(path, "recipe not found", "pass a YAML file from recipes/ (e.g. recipes/default.yaml; "
                                             "recipes/README.md lists them all)")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except _DuplicateKey as e:
        raise UnmtError(f"{path}: line {e.line}: '{e.key}' is given twice -- keep one (YAML would silently use "
                        "the last)") from None
    except yaml.YAMLError as e:
        raise fail(path, f"is not valid YAML ({str(e).splitlines()[0]})", "fix the syntax") from None
    except UnicodeDecodeError:
        raise fail(path, "is not UTF-8 text", "save the recipe as UTF-8") from None
    if raw is None:
        raise UnmtError(f"{path}: is empty -- a recipe names at least {' and '.join(REQUIRED)} "
                        "(see recipes/default.yaml)")
    if not isinstance(raw, dict):
        raise UnmtError(f"{path}: a recipe is a mapping of fields (name:, preset:, langs:, ...), "
                        f"not a {type(raw).__name__} -- see recipes/default.yaml")
    return raw


def recipe_chain(path: str | Path) -> list[tuple[Path, dict]]:
    """The recipe and the recipes it extends, base first: [(file, its own fields), ...]. ``extends: FILE``
    names the base relative to the extending recipe's folder; its fields apply first, the extending
    recipe's over them (section by section, field by field)."""
    chain: list[tuple[Path, dict]] = []
    path = Path(path)
    while True:
        if any(path.resolve() == p.resolve() for p, _ in chain):
            raise UnmtError(f"{chain[-1][0]}: extends: {path} -- recipes extend each other in a circle "
                            f"({' -> '.join(str(p) for p, _ in chain)}); break the circle")
        raw = _read_yaml(path)
        base = raw.pop("extends", None)
        chain.append((path, raw))
        if base is None:
            return chain[::-1]
        if not isinstance(base, str) or not base:
            raise UnmtError(f"{path}: extends: {base!r} -- give one recipe file, relative to this one's folder")
        path = path.parent / base


def load_recipe(path: str | Path | None = None, overrides: dict | None = None,
                origin: dict | None = None) -> RecipeConfig:
    """Dataclass defaults, then the preset, then each recipe of the ``extends`` chain, then ``--set``.
    ``origin``, when given, is filled with who set each field that is not at its dataclass default."""
    chain = recipe_chain(path) if path is not None else []
    where = str(path) if path is not None else "recipe"
    overrides = dict(overrides or {})
    preset, preset_from = "cpu-default", "default"
    for file, raw in chain:
        if "preset" in raw:
            preset, preset_from = raw["preset"], str(file)
    if "preset" in overrides:
        preset, preset_from = overrides["preset"], "--set"
    if not isinstance(preset, str) or preset not in PRESETS:
        raise UnmtError(f"{preset_from}: preset: unknown {preset!r} -- choose one of {', '.join(PRESETS)}")
    cfg = _merge(RecipeConfig(), PRESETS[preset], f"preset {preset}", origin=origin)
    for file, raw in chain:
        cfg = _merge(cfg, raw, str(file), origin=origin)
    if overrides:
        cfg = _merge(cfg, overrides, "--set", origin=origin)
    cfg.preset = preset
    check_recipe(cfg, f"{where} with --set" if overrides else where)
    missing = [k for k in REQUIRED if chain and not any(k in raw for _, raw in chain) and k not in overrides]
    if missing:
        raise UnmtError(f"{where}: does not set {' or '.join(missing)} -- a recipe names at least "
                        f"{' and '.join(REQUIRED)} (its run folder and its text), so that a file left empty "
                        "cannot rerun another run; see recipes/default.yaml")
    return cfg


def to_dict(cfg) -> dict:
    d = dataclasses.asdict(cfg)
    if "langs" in d:
        d["langs"] = list(d["langs"])
    return d


# train fields that shape only the dev log and checkpoint_best.pt, not the trained model: a train stage's
# fingerprint holds them only where the evaluate stage reads checkpoint_best.pt, so a run evaluated on its
# last checkpoint (the default) stays cached when validation changes. valid_batches is one such field, retired.
DEV_ONLY = ("valid_bleu", "valid_sentences", "valid_batches")


def config_changes(recorded: dict, current: dict) -> list[str]:
    """The fields in which a stage's recorded config slice differs from its current one, sorted. A dev-only
    field the current slice leaves out is not compared: it was recorded before its stage's fingerprint left
    it out."""
    absent = object()    # a field recorded as None differs from one not recorded
    return sorted(k for k in set(recorded) | set(current)
                  if recorded.get(k, absent) != current.get(k, absent) and (k in current or k not in DEV_ONLY))


def same_config(recorded: dict, current: dict) -> bool:
    """Whether a stage's recorded config slice is its current one (see ``config_changes``)."""
    return not config_changes(recorded, current)


def fingerprint_fields(section) -> dict:
    """A config section as a stage's fingerprint records it: the one place that decides which fields can
    change a result, from each field's metadata. ``late``: added after runs were recorded; at its default it
    computes exactly what those runs did, so it is left out and they stay cached. ``only_if``: a test of the
    section; the field is left out where it cannot act (a selection criterion with one method). ``no_effect``:
    never changes an output (a worker count). Any other value is recorded, and reruns what it changes."""
    d = to_dict(section)
    for f in dataclasses.fields(section):
        m, value = f.metadata, getattr(section, f.name)
        if m.get("no_effect") or (m.get("late") and value == f.default) or ("only_if" in m and not m["only_if"](section)):
            d.pop(f.name)
    return d


def dump(cfg) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def explain(cfg, origin: dict) -> str:
    """The resolved config as a recipe (it loads back as the same config), each field under a comment with
    its help and who set it: the dataclass default, a preset, a recipe file, or ``--set``."""
    out: list[str] = []

    def walk(dc, indent: str, prefix: str) -> None:
        for f in dataclasses.fields(dc):
            value, key = getattr(dc, f.name), prefix + f.name
            helptext = f.metadata.get("help", "")
            if dataclasses.is_dataclass(value):
                out.append(f"{indent}# {helptext}")
                out.append(f"{indent}{f.name}:")
                walk(value, indent + "  ", key + ".")
                continue
            who = origin.get(key, "derived from langs" if key == "pairs" else "default")
            out.append(f"{indent}# {helptext} [{who}]")
            text = yaml.safe_dump({f.name: list(value) if isinstance(value, tuple) else value},
                                  default_flow_style=True, width=10**6, sort_keys=False).strip()
            out.append(indent + text[1:-1])  # {key: value} -> key: value
    walk(cfg, "", "")
    return "\n".join(out) + "\n"


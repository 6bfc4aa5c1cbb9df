"""Typed recipe configuration: dataclasses, named presets, YAML recipes that override them.

A recipe file names a preset and overrides any field; ``unmt run RECIPE --dump-config`` prints the
fully resolved configuration, which is also what every stage records in the run manifest.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from unmt.errors import UnmtError, fail


@dataclass
class PrepareConfig:
    vocab_size: int = 8000
    max_len: int = 100                      # training lines are cut to this many pieces (bounds BT memory)
    max_train_lines: int | None = None      # per language; None = all
    max_eval_lines: int | None = None       # dev/test lines; None = all


@dataclass
class ModelConfig:
    layers: int = 3
    dim: int = 256
    ffn_dim: int = 1024
    heads: int = 4
    dropout: float = 0.1


@dataclass
class PretrainConfig:
    """Shared denoising LM over both languages (language tag first): BART/mBART-style pretraining."""
    max_update: int = 700
    lr: float = 1e-3
    warmup_updates: int = 150
    max_tokens: int = 2500
    update_freq: int = 1
    word_shuffle: float = 3.0
    word_dropout: float = 0.1
    word_blank: float = 0.2
    max_minutes: float | None = 12          # wall-clock bound (fairseq --stop-time-hours)


@dataclass
class AlignConfig:
    # ppmi: monolingual PPMI+SVD per language; encoder: shared-LM states; embedding: the LM's embedding table;
    vectors: str = "ppmi"
    vec_files: dict[str, str] | None = None  # vec: {lang: path.vec} in word2vec/fastText text format
    # unsupervised methods to run (identical, vecmap, adversarial); the best selection criterion gives the lexicon
    methods: list[str] = field(default_factory=lambda: ["identical"])
    max_words: int = 10000
    min_count: int = 2
    window: int = 5
    dim: int = 300
    max_lines: int | None = None            # per language; None = all training lines
    iterations: int = 5
    max_rank: int = 3000                    # refinement dictionary is built among the most frequent words
    max_rank_ratio: float = 2.0             # identical-string seeds must have similar frequency ranks
    adversarial_steps: int = 3000
    adversarial_start: str = "pca"          # pca: principal axes matched (sign by skew); identity: MUSE's start
    stochastic_interval: int = 10           # VecMap: self-learning iterations without gain before keep_prob doubles


@dataclass
class MineConfig:
    """Margin-scored mining of the two training pools (unmt/mine.py); the pairs warm-start ``train``."""
    encoder: str = "lexicon"                # lexicon: aligned word vectors + translated tokens; model: LM encoder
    token_weight: float = 0.3               # share of the hashed translated-token part in a lexicon vector
    k: int = 4
    mode: str = "intersect"                 # forward | backward | max | intersect
    index: str = "auto"                     # faiss: auto (exact up to 200k sentences, IVF above) | flat | ivf | ivfpq
    threshold: float = 1.0                  # minimum ratio margin
    min_tokens: int = 3
    max_length_ratio: float = 2.0
    max_pairs: int | None = None
    planted_filler: int = 5000              # unrelated sentences per language around the planted dev pairs
    rounds: int = 1                         # CRISS-style: >1 re-encodes with the trained model and mines again
    later_encoder: str = "hybrid"           # rounds 2+: lexicon + previous round's model encoder (or "model")
    round_minutes: float | None = 10        # fine-tuning budget of each round after the first


@dataclass
class TrainConfig:
    """Denoising + online back-translation (XLM-style ``step:value`` schedules for the lambdas)."""
    max_update: int = 3000                  # on CPU the wall-clock bound below ends training first
    max_minutes: float | None = 35          # wall-clock bound (fairseq --stop-time-hours)
    lr: float = 5e-4
    warmup_updates: int = 100
    max_tokens: int = 1500
    update_freq: int = 1
    lambda_dae: str = "0:1,500:0.3"
    lambda_bt: str = "0:0,100:0.5,400:1"    # BT only once the warm start has moved the model off copying
    word_shuffle: float = 3.0
    word_dropout: float = 0.1
    word_blank: float = 0.1
    init_from_pretrain: bool = True
    # pseudo-parallel warm start: "wbw" (word-by-word translations from the align lexicon), "mined"
    # (the mine stage's pairs, both directions), "wbw+mined", or "none"
    warm_start: str = "wbw+mined"
    lambda_warm: str = "0:1,500:0"          # at weight 0 a batch kind is skipped: later updates are cheaper
    lambda_mined: str = "1"
    validate_interval_updates: int = 100     # dev loss, K(Y|X) and (valid_bleu) greedy dev BLEU both ways
    valid_bleu: bool = True
    valid_batches: int = 8                   # dev batches per validation (~400 sentences per direction)


@dataclass
class CompressConfig:
    """Code lengths K(X), K(Y), K(X,Y), K(Y|X) (unmt/compress.py): causal LMs the size of the model."""
    enabled: bool = True                    # a stage of every recipe (after evaluate)
    lm_updates: int = 100                   # each monolingual LM; the joint LM gets the sum (same compute)
    max_tokens: int = 4096
    lr: float = 1e-3
    warmup_updates: int = 100
    eval_interval: int = 50                 # held-out code length every N updates (the curves)
    heldout: str = "test"                   # held-out text: the test (or dev) side of each language


@dataclass
class EvalConfig:
    beam: int = 1
    batch_size: int = 64
    max_lines: int | None = None            # None = the whole test set
    # last: the final checkpoint (no parallel data touches the model); best: best mean dev BLEU (XLM practice)
    checkpoint: str = "last"


@dataclass
class RecipeConfig:
    name: str = "default"
    preset: str = "cpu-default"
    langs: tuple[str, str] = ("en", "fr")
    corpus: str = "corpora/libreoffice-en-fr"
    dictionary_test: str | None = "corpora/libreoffice-en-fr/dict.en-fr.test.txt"
    seed: int = 1
    nproc: int = 1                          # data-parallel fairseq workers (torchrun): GPUs, or CPU processes
    # fp32 | fp16 | bf16: mixed precision. GPU: fairseq's --bf16/--fp16. CPU: bf16 = autocast in training
    # steps where the CPU has native bf16 kernels (unmt/plugin/cpu_bf16.py), otherwise fp32
    precision: str = "fp32"
    prepare: PrepareConfig = field(default_factory=PrepareConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    mine: MineConfig = field(default_factory=MineConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvalConfig = field(default_factory=EvalConfig)
    compress: CompressConfig = field(default_factory=CompressConfig)
    # ablation: {variant name: train overrides}; `unmt run` then trains/evaluates each variant instead of one model
    ablation: dict[str, dict] | None = None


PRECISIONS = ("fp32", "fp16", "bf16")

# Named presets: partial dicts applied over the dataclass defaults, before the recipe's own fields.
PRESETS: dict[str, dict] = {
    # cpu-default: the dataclass defaults, training steps in bf16 autocast where the CPU has native bf16, and
    # UNMT at lr 1e-3: with ~1,000 updates in the CPU budget, inverse-sqrt decay from 5e-4 left the model
    # under-trained (dev BLEU at update 500: 13.8/15.8 at 5e-4, 18.1/20.1 at 1e-3; README "Status, plainly")
    "cpu-default": {"precision": "bf16", "train": {"lr": 1e-3, "max_minutes": 33}},
    # gpu: one GPU (H200-class), bf16, a 6-layer 512-d model, big batches; ~6 min pretraining + 8 min UNMT
    "gpu": {
        "precision": "bf16",
        "model": {"layers": 6, "dim": 512, "ffn_dim": 2048, "heads": 8, "dropout": 0.1},
        "pretrain": {"max_update": 20000, "max_tokens": 32000, "lr": 7e-4, "warmup_updates": 500, "max_minutes": 6},
        "train": {"max_update": 20000, "max_tokens": 16000, "lr": 3e-4, "warmup_updates": 200, "max_minutes": 8,
                  "validate_interval_updates": 250, "valid_batches": 20},
        "evaluate": {"beam": 4, "batch_size": 256},
    },
    # tiny: a few hundred lines and a 2-layer 64-d model; every stage runs for real in seconds (tests).
    "tiny": {
        "prepare": {"vocab_size": 500, "max_len": 40, "max_train_lines": 400, "max_eval_lines": 60},
        "model": {"layers": 1, "dim": 64, "ffn_dim": 128, "heads": 2, "dropout": 0.0},
        "pretrain": {"max_update": 12, "warmup_updates": 4, "max_tokens": 800, "max_minutes": None},
        "align": {"max_words": 500, "iterations": 2, "max_rank": 300, "dim": 50},
        "mine": {"planted_filler": 200, "threshold": 0.0},
        "train": {"max_update": 6, "warmup_updates": 2, "max_tokens": 400, "lambda_dae": "1", "lambda_bt": "1",
                  "max_minutes": None,
                  "validate_interval_updates": 3, "valid_batches": 2},
        "evaluate": {"max_lines": 40},
        "compress": {"lm_updates": 4, "eval_interval": 2, "max_tokens": 1000, "warmup_updates": 2},
    },
}


def _merge(dc, updates: dict, where: str):
    for key, value in updates.items():
        if not hasattr(dc, key):
            raise UnmtError(f"{where}: unknown field '{key}' -- see `unmt run RECIPE --dump-config` for the fields")
        current = getattr(dc, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise UnmtError(f"{where}: '{key}' must be a mapping")
            _merge(current, value, f"{where}.{key}")
        else:
            setattr(dc, key, tuple(value) if isinstance(current, tuple) else value)
    return dc


def load_recipe(path: str | Path | None = None, overrides: dict | None = None) -> RecipeConfig:
    raw: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise fail(path, "recipe not found", "pass a YAML file from recipes/ (e.g. recipes/default.yaml)")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise fail(path, f"is not valid YAML ({str(e).splitlines()[0]})", "fix the syntax") from None
    preset = raw.get("preset", "cpu-default")
    if preset not in PRESETS:
        raise UnmtError(f"{path}: unknown preset '{preset}' -- choose one of {', '.join(PRESETS)}")
    cfg = _merge(RecipeConfig(), PRESETS[preset], f"preset {preset}")
    cfg = _merge(cfg, raw, str(path))
    if overrides:
        cfg = _merge(cfg, overrides, "overrides")
    if cfg.precision not in PRECISIONS:  # before any stage directory exists
        raise UnmtError(f"{path}: precision: unknown '{cfg.precision}' -- use {', '.join(PRECISIONS)}")
    if len(cfg.langs) != 2 or cfg.langs[0] == cfg.langs[1]:
        raise UnmtError(f"{path}: langs must be two different language codes, got {cfg.langs}")
    return cfg


def to_dict(cfg) -> dict:
    d = dataclasses.asdict(cfg)
    if "langs" in d:
        d["langs"] = list(d["langs"])
    return d


def dump(cfg) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)

"""``unmt_backtranslation``: fairseq's ``online_backtranslation`` plus a warm-start objective.

Online BT from a denoising model starts by copying: its first back-translations are the input
itself, so BT pairs teach the identity. Following Lample et al. (2018), we add pseudo-parallel
pairs made *without any parallel data*: the word-by-word translation of a monolingual sentence
(using the lexicon the ``align`` stage induced) as source, the original sentence as target.
Their weight follows a ``step:value`` schedule (``--lambda-warm 0:1,800:0``), so they steer the
first updates and then leave the model to denoising + back-translation. Pairs mined from the two
monolingual pools (``unmt mine``) enter the same way, with their own weight (``--lambda-mined``).

With more than two languages, ``--bt-pairs`` names the translation pairs: a language back-translates into
its partners in turn (update n uses partner n mod count, the same on every worker), or, with
``--bt-all-partners``, into every partner at every update (each direction then gets as many back-translations
as in a bilingual run: equal per-direction compute), and a language in no pair is only denoised. Upstream
picks a random partner (``np.random``) and treats the first language as every other's partner.

Every language has a batch at every update (the zipped datasets cycle the smaller ones): uniform sampling.
``--lang-sampling-temperature T`` gives language l the share p_l ~ n_l^(1/T) of the monolingual (denoising
and back-translation) batches instead, n_l its training sentences (XLM's ``lg_sampling_factor`` = 1/T): the
most frequent language trains at every update and language l at a p_l/max(p) share of them, on a fixed
schedule (update n, not a random draw), so every worker and a resumed run pick the same languages. Each
update logs the examples it trained per kind and direction (``ex_bt_fr-en``: English back-translated into
French and learned back) and each language's share of the monolingual ones (``share_en``).

Batches are keyed ``<lang>-BT``, ``<lang>-DENOISE`` (as upstream), ``<src>_<tgt>-WARM`` and ``<src>_<tgt>-MINED``.

Validation covers every ``--valid-lang-pairs`` direction (upstream takes one), on ``--valid-sentences`` dev
sentences drawn at random once (``DevSample``), and, with ``--valid-bleu``, greedy-decodes them and logs
sacreBLEU per direction and ``bleu`` (their mean, the ``--best-checkpoint-metric``), plus the code length of
the references given the sources, K(Y|X), as ``bpc_<pair>`` (bits per character of the detokenised
reference) -- the numbers ``unmt compress`` plots.

``--target-vocab-min-count N`` (0: off) decodes into a language only with the pieces its own training text
uses at least N times -- in back-translation, dev BLEU, ``unmt translate``/evaluate (the checkpoint carries the
option) and fairseq-generate. A joint vocabulary lets the decoder answer in the source's script, and a
denoising-trained model does (docs/findings.md, English-Chinese). The row of the mask is picked
by the decoder's first input, the target language's tag, so one search object serves every direction.
``--target-vocab-min-ratio R`` also leaves out the pieces more than 1/R times as frequent (per piece of text)
in another language's training text: languages in one script quote each other, so a count keeps the
source's words (``target_mask``).
"""
from __future__ import annotations

import math
import os
from collections import OrderedDict, defaultdict
from functools import partial

import numpy as np
import torch

from fairseq import utils
from fairseq.data import BaseWrapperDataset, LanguagePairDataset, PrependTokenDataset, RoundRobinZipDatasets, data_utils
from fairseq.data import indexed_dataset
from fairseq.logging import metrics
from fairseq.search import BeamSearch
from fairseq.tasks import register_task
from fairseq.tasks.online_backtranslation import (
    OnlineBackTranslationTask,
    PiecewiseLinearFn,
    _lang_token_index,
)
from unmt.plugin.cpu_bf16 import HELP as CPU_BF16_HELP
from unmt.plugin.cpu_bf16 import training_autocast


@register_task("unmt_backtranslation")
class UnmtBacktranslationTask(OnlineBackTranslationTask):
    @staticmethod
    def add_args(parser):
        OnlineBackTranslationTask.add_args(parser)
        parser.add_argument("--warm-data", default=None,
                            help="directory with fairseq binaries train.SRC-TGT.{SRC,TGT} of pseudo-parallel pairs")
        parser.add_argument("--warm-pairs", default="", help="comma-separated SRC-TGT directions in --warm-data")
        parser.add_argument("--lambda-warm", default="0", type=str, help="warm-start weight (step:value schedule)")
        parser.add_argument("--mined-data", default=None, help="directory with binaries of mined pairs (same layout)")
        parser.add_argument("--mined-pairs", default="", help="comma-separated SRC-TGT directions in --mined-data")
        parser.add_argument("--lambda-mined", default="0", type=str, help="mined-pair weight (step:value schedule)")
        parser.add_argument("--bt-pairs", default="",
                            help="comma-separated SRC-TGT pairs back-translated both ways (default: upstream's choice)")
        parser.add_argument("--bt-all-partners", action="store_true",
                            help="back-translate each language into every --bt-pairs partner at every update")
        parser.add_argument("--lang-sampling-temperature", default=0.0, type=float,
                            help="language l's share of the monolingual batches ~ n_l^(1/T) (0: every language "
                                 "every update)")
        parser.add_argument("--valid-sentences", default=0, type=int,
                            help="validate each direction on this many dev sentences, one fixed random sample "
                                 "(0 = the whole dev set)")
        parser.add_argument("--valid-bleu", action="store_true",
                            help="greedy-decode the dev set at each validation and log sacreBLEU per direction")
        parser.add_argument("--cpu-bf16", action="store_true", help=CPU_BF16_HELP)
        parser.add_argument("--target-vocab-min-count", default=0, type=int,
                            help="decode into a language only with pieces seen this often in its training text "
                                 "(0: any piece)")
        parser.add_argument("--target-vocab-min-ratio", default=0.0, type=float,
                            help="decode into a language only with pieces at least this share as frequent (per "
                                 "piece of text) in its training text as in any other language's (0: off)")

    def __init__(self, args, common_dict, mono_langs, valid_lang_pairs):
        super().__init__(args, common_dict, mono_langs, valid_lang_pairs)
        # upstream expands a data folder holding shard*/ into those folders, in glob order, and then loads
        # valid/test from the first shard and never moves past it (has_sharded_data looks for ':' only).
        # Streamed `unmt prepare` writes bin/shardNNN/{lang}/train.*: read them in order, one per epoch,
        # with valid/test from the folder that holds them.
        self.data_root = utils.split_paths(args.data)[0]
        self.data = sorted(self.data)
        self.lambda_warm = PiecewiseLinearFn.from_string(args.lambda_warm)
        self.lambda_mined = PiecewiseLinearFn.from_string(args.lambda_mined)
        self.pseudo_parallel = {"WARM": (args.warm_data, [p for p in (args.warm_pairs or "").split(",") if p]),
                                "MINED": (args.mined_data, [p for p in (args.mined_pairs or "").split(",") if p])}
        self.bt_partners: dict[str, list[str]] = {}
        for pair in filter(None, (getattr(args, "bt_pairs", "") or "").split(",")):
            a, b = pair.split("-")
            self.bt_partners.setdefault(a, []).append(b)
            self.bt_partners.setdefault(b, []).append(a)

    def bt_targets(self, lang: str, update_num: int) -> list[str]:
        """The languages a ``lang`` batch is back-translated into at this update (none: no BT for it)."""
        if not self.bt_partners:
            return [self.get_other_lang(lang)]
        partners = self.bt_partners.get(lang, [])
        if getattr(self.args, "bt_all_partners", False) or not partners:
            return partners
        return [partners[update_num % len(partners)]]

    def sampling_rates(self) -> dict[str, float]:
        """Each language's share of the updates it trains at: p_l / max(p), p_l ~ n_l^(1/T) (all 1: off)."""
        if getattr(self, "_rates", None) is None:
            t = getattr(self.args, "lang_sampling_temperature", 0.0)
            sizes = {l: len(self.datasets["train"].datasets[f"{l}-DENOISE"]) if t > 0 else 1 for l in self.mono_langs}
            self._rates = language_rates(sizes, t)
        return self._rates

    def language_trains_at(self, lang: str, update_num: int) -> bool:
        """At rate r, language l trains at update n when floor((n+1) r + phase) passes an integer: exactly
        floor(N r) or one more of any N updates, the phases (golden-ratio steps) spreading languages apart."""
        rate = self.sampling_rates()[lang]
        if rate >= 1.0:
            return True
        phase = (self.mono_langs.index(lang) * 0.6180339887) % 1.0
        return math.floor((update_num + 1) * rate + phase) > math.floor(update_num * rate + phase)

    def build_model(self, args, from_checkpoint=False):
        model = super().build_model(args, from_checkpoint)
        # upstream's back-translation generators: only training uses them (a checkpoint loaded to translate or
        # to score builds its search when it first decodes, so scoring never reads the training binaries)
        search = None if from_checkpoint else self.target_vocabulary_search()
        for generator in self.sequence_generators.values():
            generator.search = search or generator.search
        return model

    def build_generator(self, models, args, **kwargs):
        generator = super().build_generator(models, args, **kwargs)  # fairseq-generate
        search = self.target_vocabulary_search()
        if search and type(generator.search) is BeamSearch:  # not sampling or constrained decoding
            generator.search = search
        return generator

    def target_vocabulary_search(self) -> "TargetVocabularySearch | None":
        """The search that keeps each language's output in its own pieces (None: both options off)."""
        min_count = getattr(self.args, "target_vocab_min_count", 0)
        min_ratio = getattr(self.args, "target_vocab_min_ratio", 0.0)
        if min_count <= 0 and min_ratio <= 0:
            return None
        # built once per setting (a sweep may change the options on a loaded task: eval.lenpen)
        if getattr(self, "_target_search_for", None) != (min_count, min_ratio):
            d = self.dictionary
            counts = {lang: piece_counts(os.path.join(self.data[0], lang, "train"), len(d)) for lang in self.mono_langs}
            masks = {_lang_token_index(d, lang): target_mask(lang, counts, min_count, min_ratio, d.eos())
                     for lang in self.mono_langs}
            self._target_search = TargetVocabularySearch(d, masks)
            self._target_search_for = (min_count, min_ratio)
        return self._target_search

    def load_train_dataset(self, data_path: str):
        zipped = super().load_train_dataset(data_path)
        data = OrderedDict(zipped.datasets)
        self.direction_of_key = {}
        for kind, (folder, pairs) in self.pseudo_parallel.items():
            for pair in pairs:
                src, tgt = pair.split("-")
                self.direction_of_key[f"{src}_{tgt}-{kind}"] = pair  # a language code may hold "_" (pt_br)
                data[f"{src}_{tgt}-{kind}"] = self._load_pairs(os.path.join(folder, f"train.{src}-{tgt}."), src, tgt)
        return RoundRobinZipDatasets(data)

    def has_sharded_data(self, split):
        return split == "train" and len(self.data) > 1

    def load_translation_dataset(self, split: str, data_path: str, combine: bool = False):
        """All validation directions side by side (upstream validates only one). With one direction, the
        dataset itself, as upstream: what ``fairseq-generate --gen-subset test`` iterates."""
        pairs, data = self.valid_lang_pairs, OrderedDict()
        data_path = self.data_root
        n = getattr(self.args, "valid_sentences", 0) if split in getattr(self.args, "valid_subset", "").split(",") else 0
        sample = (lambda ds: DevSample(ds, n)) if n else (lambda ds: ds)  # noqa: E731 (test sets stay whole)
        if len(pairs) == 1:
            return sample(super().load_translation_dataset(split, data_path, combine))
        for pair in pairs:
            self.valid_lang_pairs = [pair]
            data[pair] = sample(super().load_translation_dataset(split, data_path, combine))
        self.valid_lang_pairs = pairs
        return RoundRobinZipDatasets(data)

    def _load_pairs(self, prefix: str, src: str, tgt: str):
        src_ds = data_utils.load_indexed_dataset(prefix + src, self.common_dict, self.args.dataset_impl)
        tgt_ds = data_utils.load_indexed_dataset(prefix + tgt, self.common_dict, self.args.dataset_impl)
        if src_ds is None or tgt_ds is None:
            raise FileNotFoundError(f"{prefix}{{{src},{tgt}}}.bin: pseudo-parallel data missing -- rerun `unmt train`")
        src_ds = PrependTokenDataset(src_ds, _lang_token_index(self.dictionary, src))
        pairs = LanguagePairDataset(src_ds, src_ds.sizes, self.dictionary, tgt=tgt_ds, tgt_sizes=tgt_ds.sizes,
                                    tgt_dict=self.dictionary, left_pad_source=self.args.left_pad_source,
                                    left_pad_target=self.args.left_pad_target)
        return self._prepend_lang_bos_to_target(pairs, tgt)

    def train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False):
        with training_autocast(self.args):  # a no-op unless --cpu-bf16 on a CPU
            return self._train_step(sample, model, criterion, optimizer, update_num, ignore_grad)

    def _train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad):
        model.train()
        model.set_num_updates(update_num)
        weights = {"BT": self.lambda_bt(update_num), "DENOISE": self.lambda_dae(update_num),
                   "WARM": self.lambda_warm(update_num), "MINED": self.lambda_mined(update_num)}
        prefix = {"BT": "bt_", "DENOISE": "dae_", "WARM": "warm_", "MINED": "mined_"}
        total_loss, total_size, logs = 0.0, 0.0, defaultdict(float)
        for key in self.datasets["train"].datasets.keys():
            lang, kind = key.split("-")
            batch = sample.get(key)
            if weights[kind] == 0 or not batch:
                continue
            if kind in ("BT", "DENOISE") and not self.language_trains_at(lang, update_num):
                continue
            if kind == "BT":  # the source becomes the model's own translation into each partner in turn
                jobs = []
                for other in self.bt_targets(lang, update_num):
                    bt = {**batch, "net_input": dict(batch["net_input"])}  # backtranslate_sample edits net_input
                    model.eval()
                    self.backtranslate_sample(bt, lang, other)
                    self.display_samples_once_in_a_while(bt, lang, other)
                    model.train()
                    jobs.append((f"{other}-{lang}", bt))
            elif kind == "DENOISE":
                jobs = [(f"{lang}-{lang}", batch)]
            else:
                jobs = [(self.direction_of_key[key], batch)]
            for direction, b in jobs:
                loss, sample_size, logging_output = criterion(model, b)
                loss = loss * (0.0 if ignore_grad else weights[kind])
                optimizer.backward(loss)
                total_loss += loss.item()
                total_size += sample_size
                for k, v in logging_output.items():
                    logs[prefix[kind] + k] += v
                    logs[k] += v
                logs[f"ex_{prefix[kind]}{direction}"] += b["nsentences"]
        return total_loss, total_size, logs

    def inference_step(self, generator, models, sample, prefix_tokens=None, constraints=None):
        """fairseq-generate on our checkpoints: decoding starts from the target language's tag (the first
        decoder input of every test sample), as in training, in ``unmt translate`` and in dev BLEU."""
        with torch.no_grad():
            return generator.generate(models, sample, prefix_tokens=prefix_tokens, constraints=constraints,
                                      bos_token=int(sample["net_input"]["prev_output_tokens"][0, 0]))

    def valid_step(self, sample, model, criterion):
        if "net_input" in sample:  # one direction: the dataset is not zipped (load_translation_dataset)
            sample = {self.valid_lang_pairs[0]: sample}
        model.eval()
        total_loss, total_size, logs = 0.0, 0.0, defaultdict(float)
        for pair in self.valid_lang_pairs:
            batch = sample.get(pair)
            if not batch:
                continue
            with torch.no_grad():
                loss, size, out = criterion(model, batch)
            total_loss, total_size = total_loss + loss.item(), total_size + size
            for k in ("loss", "nll_loss", "ntokens", "nsentences", "sample_size"):
                logs[k] += float(out.get(k, 0))
            refs = [self._detok(t) for t in batch["target"]]
            logs[f"_{pair}_nll_bits"] += float(out["nll_loss"]) / math.log(2)
            logs[f"_{pair}_chars"] += sum(len(r) for r in refs)
            logs[f"_{pair}_bytes"] += sum(len(r.encode("utf-8")) for r in refs)
            if getattr(self.args, "valid_bleu", False):
                for k, v in self._bleu_stats(model, batch, pair, refs).items():
                    logs[f"_{pair}_{k}"] += v
        # every worker must send the same keys, also for an empty batch (distributed all-reduce)
        for pair in self.valid_lang_pairs:
            for k in ("nll_bits", "chars", "bytes") + (BLEU_KEYS if getattr(self.args, "valid_bleu", False) else ()):
                logs[f"_{pair}_{k}"] += 0.0
        return total_loss, total_size, logs

    def _detok(self, tokens) -> str:
        d = self.dictionary
        if getattr(self, "_non_text_ids", None) is None:  # language tags, eos, pad: never part of the text
            self._non_text_ids = {_lang_token_index(d, l) for l in self.mono_langs} | {d.eos(), d.pad()}
        return d.string(tokens, "sentencepiece", extra_symbols_to_ignore=self._non_text_ids)

    def _bleu_stats(self, model, batch, pair, refs) -> dict:
        import sacrebleu

        from unmt.generation import make_generator
        from unmt.segment import bleu_tokenizer

        if getattr(self, "_valid_generator", None) is None:  # greedy, built as the evaluate stage builds it
            self._valid_generator = make_generator(model, self.dictionary, beam=1,
                                                   search=self.target_vocabulary_search())
        tgt = pair.split("-")[1]
        net_input = {k: batch["net_input"][k] for k in ("src_tokens", "src_lengths")}
        with torch.no_grad():
            hypos = self._valid_generator.generate([model], {"net_input": net_input},
                                                   bos_token=_lang_token_index(self.dictionary, tgt))
        hyps = [self._detok(h[0]["tokens"]) for h in hypos]
        score = sacrebleu.metrics.BLEU(tokenize=bleu_tokenizer(tgt)).corpus_score(hyps, [refs])
        stats = {"sys_len": score.sys_len, "ref_len": score.ref_len}
        for i in range(4):
            stats[f"counts_{i}"], stats[f"totals_{i}"] = score.counts[i], score.totals[i]
        return stats

    def reduce_metrics(self, logging_outputs, criterion):
        super().reduce_metrics(logging_outputs, criterion)
        for kind in ("warm", "mined"):
            size = sum(x.get(f"{kind}_sample_size", 0) for x in logging_outputs)
            if size:
                loss = sum(x.get(f"{kind}_loss", 0) for x in logging_outputs) / size / math.log(2)
                metrics.log_scalar(f"{kind}_loss", loss, size, round=3)
        examples = {k for x in logging_outputs for k in x if k.startswith("ex_")}
        for k in sorted(examples):  # training examples per kind and direction, summed over the logged updates
            metrics.log_scalar_sum(k, sum(x.get(k, 0) for x in logging_outputs))
        mono = {k for k in examples if k.startswith(("ex_dae_", "ex_bt_"))}
        for lang in self.mono_langs if mono else ():
            mine = [k for k in mono if k.endswith(f"-{lang}")]
            metrics.log_derived(f"share_{lang}", partial(_share, mine, sorted(mono)))
        if not any(k.startswith("_") and k.endswith("_chars") for x in logging_outputs for k in x):
            return  # a training step: no dev BLEU / code length
        bleu_pairs = []
        for pair in self.valid_lang_pairs:
            sums = {k: sum(float(x.get(f"_{pair}_{k}", 0)) for x in logging_outputs)
                    for k in ("nll_bits", "chars", "bytes") + BLEU_KEYS}
            for k, v in sums.items():
                metrics.log_scalar_sum(f"_{pair}_{k}", v)
            metrics.log_derived(f"bpc_{pair}", partial(_ratio, f"_{pair}_nll_bits", f"_{pair}_chars"))
            metrics.log_derived(f"bpb_{pair}", partial(_ratio, f"_{pair}_nll_bits", f"_{pair}_bytes"))
            if sums["ref_len"] > 0:
                bleu_pairs.append(pair)
                metrics.log_derived(f"bleu_{pair}", partial(_bleu, pair))
        if bleu_pairs:
            metrics.log_derived("bleu", lambda m: round(sum(_bleu(p, m) for p in bleu_pairs) / len(bleu_pairs), 2))


class TargetVocabularySearch(BeamSearch):
    """fairseq's beam search with one additive mask per target language, chosen by each hypothesis's first
    token (the language tag decoding starts from); any other first token decodes unrestricted."""

    def __init__(self, tgt_dict, masks: dict[int, torch.Tensor]):
        super().__init__(tgt_dict)
        self.rows = torch.zeros(len(masks) + 1, len(tgt_dict))   # row 0: no restriction
        self.row_of = torch.zeros(len(tgt_dict), dtype=torch.long)
        for r, (tag, mask) in enumerate(masks.items(), 1):
            self.rows[r], self.row_of[tag] = mask, r

    def step(self, step, lprobs, scores, prev_output_tokens=None, original_batch_idxs=None):
        bsz, beam, vocab = lprobs.size()
        if self.rows.device != lprobs.device or self.rows.dtype != lprobs.dtype:  # once, not every step
            self.rows, self.row_of = self.rows.to(lprobs), self.row_of.to(lprobs.device)
        lprobs = lprobs + self.rows[self.row_of[prev_output_tokens[:, 0]]].view(bsz, beam, vocab)
        return super().step(step, lprobs, scores, prev_output_tokens, original_batch_idxs)


class DevSample(BaseWrapperDataset):
    """``n`` sentences of a dev set, drawn once with a fixed seed (the same lines for every run, seed and
    direction of a dev set), batched shortest first; n = 0 or n >= the set: all of it. fairseq orders a dev
    set by length, so --max-valid-steps would validate on its shortest sentences only: one or two words."""

    def __init__(self, dataset, n: int, seed: int = 0):
        super().__init__(dataset)
        self.n, self.seed = n, seed

    def ordered_indices(self):
        order = self.dataset.ordered_indices()
        if not self.n or self.n >= len(self.dataset):
            return order
        pick = np.random.RandomState(self.seed).permutation(len(self.dataset))[: self.n]
        return order[np.isin(order, pick)]


def target_mask(lang: str, counts: dict, min_count: int, min_ratio: float, eos: int) -> torch.Tensor:
    """The additive mask (0 kept, -inf left out) of the pieces ``lang``'s output may use: seen at least
    ``min_count`` times in its training text, and at least ``min_ratio`` times as frequent there, per piece of
    text, as in any other language's. The count alone cannot separate languages that share a script: French
    help text quotes English UI strings, so it holds "the" a thousand times; the ratio can ("the" is ~1/60 as
    frequent there as in English)."""
    import numpy as np

    keep = counts[lang] >= max(min_count, 0)
    if min_ratio > 0:
        share = lambda c: c / max(1, c.sum())  # noqa: E731
        others = [share(c) for other, c in counts.items() if other != lang]
        if others:
            keep &= share(counts[lang]) >= min_ratio * np.maximum.reduce(others)
    mask = torch.full((len(keep),), -math.inf)
    mask[torch.from_numpy(keep)] = 0.0
    mask[eos] = 0.0
    return mask


def piece_counts(prefix: str, vocab_size: int):
    """How often each dictionary entry occurs in the binarized text at ``prefix`` (.bin/.idx), read as one
    array (the .bin file is the token ids end to end, in the dtype its index names)."""
    import numpy as np

    dtype = indexed_dataset.MMapIndexedDataset.Index(indexed_dataset.index_file_path(prefix)).dtype
    tokens = np.memmap(indexed_dataset.data_file_path(prefix), dtype=dtype, mode="r")
    return np.bincount(tokens, minlength=vocab_size)[:vocab_size]


BLEU_KEYS = ("sys_len", "ref_len") + tuple(f"{k}_{i}" for k in ("counts", "totals") for i in range(4))


def language_rates(sizes: dict[str, int], temperature: float) -> dict[str, float]:
    """p_l / max(p) with p_l ~ n_l^(1/T): the share of updates each language trains at (T = 0: all 1)."""
    if temperature <= 0:
        return {lang: 1.0 for lang in sizes}
    weight = {lang: max(n, 1) ** (1.0 / temperature) for lang, n in sizes.items()}
    top = max(weight.values())
    return {lang: w / top for lang, w in weight.items()}


def _share(part: list[str], whole: list[str], meters) -> float:
    count = lambda keys: sum(float(meters[k].sum) for k in keys if k in meters)  # noqa: E731 (tensors under DDP)
    total = count(whole)
    return round(count(part) / total, 4) if total else 0.0


def _ratio(num: str, den: str, meters) -> float:
    d = meters[den].sum
    return round(meters[num].sum / d, 4) if d else 0.0


def _bleu(pair: str, meters) -> float:
    import sacrebleu

    m = lambda k: int(meters[f"_{pair}_{k}"].sum)  # noqa: E731
    if m("ref_len") == 0:
        return 0.0
    return round(sacrebleu.metrics.BLEU.compute_bleu(
        correct=[m(f"counts_{i}") for i in range(4)], total=[m(f"totals_{i}") for i in range(4)],
        sys_len=m("sys_len"), ref_len=m("ref_len"), smooth_method="exp").score, 2)

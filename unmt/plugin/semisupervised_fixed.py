"""``semisupervised_translation`` with its ``train_step`` repaired (fairseq issue 3640).

Upstream aggregates logging outputs with ``agg[k] += v`` into a plain ``{}``, so the very first
update dies with ``KeyError: 'loss'``. We register a subclass whose train_step sums into a
``defaultdict`` and keeps per-objective keys (``<lang_pair>:<stat>``) the way
``multilingual_translation`` does. Nothing in site-packages is patched.
"""
from __future__ import annotations

from collections import defaultdict

from fairseq.tasks import register_task
from fairseq.tasks.semisupervised_translation import (
    SemisupervisedTranslationTask,
    _get_bt_dataset_key,
    _get_denoising_dataset_key,
)


@register_task("semisupervised_translation_fixed")
class FixedSemisupervisedTranslationTask(SemisupervisedTranslationTask):
    def train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False):
        model.train()
        if update_num > 0:
            self.update_step(update_num)
        totals = {"loss": 0.0, "sample_size": 0.0}
        stats: dict[str, float] = defaultdict(float)

        def objectives():
            """(sub-model name, batch key, weight) for each loss this step trains on."""
            for pair in self.lang_pairs:
                _, tgt = pair.split("-")
                yield pair, pair, self.lambda_parallel
                yield pair, _get_bt_dataset_key(pair), self.lambda_otf_bt
                yield f"{tgt}-{tgt}", _get_denoising_dataset_key(pair), self.lambda_denoising

        for name, key, weight in objectives():
            batch = sample.get(key) if weight > 0 else None
            if not batch:
                continue
            submodel = model.models[name]
            loss, sample_size, logging_output = criterion(submodel, batch)
            loss = loss * (0.0 if ignore_grad else weight)
            optimizer.backward(loss)
            totals["loss"] += loss.detach().item()
            totals["sample_size"] += sample_size
            for k, v in logging_output.items():
                stats[k] += v
                stats[f"{key}:{k}"] += v
        return totals["loss"], totals["sample_size"], stats

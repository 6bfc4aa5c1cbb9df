"""``--cpu-bf16``: training steps under ``torch.autocast("cpu", bfloat16)`` on CPUs with native bf16.

fairseq's own ``--bf16`` casts the whole model (weights, layer norms, softmax, loss) to bf16, and its
``--amp`` is CUDA-only. Autocast is the mixed precision we want on a CPU with AVX512-BF16/AMX: matrix
products in bf16, weights, optimizer state, reductions and the loss in fp32. Only ``train_step`` runs
under it; validation (dev BLEU, code lengths) stays fp32 so its numbers mean the same with or without.
On CI's 2-core AMD EPYC (AVX512-BF16), ``benchmarks/cpu_bf16.py``: denoising updates x1.28 faster, UNMT
updates (DAE + back-translation + mined pairs) x1.08 (greedy BT decoding is overhead-bound and gains
nothing); training losses equal to 3 digits. One compress LM (100 updates): 133 s fp32, 92 s bf16.
"""
# no `from __future__ import annotations`: fairseq reads the config dataclass field types at run time

import logging
from dataclasses import dataclass, field

import torch

from fairseq.tasks import register_task
from fairseq.tasks.language_modeling import LanguageModelingConfig, LanguageModelingTask

logger = logging.getLogger(__name__)
HELP = "run training steps under torch.autocast('cpu', bfloat16) (mixed precision on CPUs with native bf16)"


def cpu_bf16_supported() -> bool:
    """True where oneDNN has native bf16 kernels; elsewhere autocast would emulate them, slower than fp32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


_announced = False


def training_autocast(args):
    """The context a training step runs in: bf16 autocast with ``--cpu-bf16`` on a CPU, else a no-op."""
    global _announced
    enabled = bool(getattr(args, "cpu_bf16", False)) and not torch.cuda.is_available()
    if enabled and not _announced:
        logger.info("training steps run under torch.autocast('cpu', bfloat16); weights and optimizer in fp32")
        _announced = True
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled)


class CpuBf16TrainStep:
    """Mixin for a fairseq task (``self.args`` may carry ``cpu_bf16``) that keeps its parent's train_step."""

    def train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False):
        with training_autocast(self.args):
            return super().train_step(sample, model, criterion, optimizer, update_num, ignore_grad)


@dataclass
class UnmtLanguageModelingConfig(LanguageModelingConfig):
    cpu_bf16: bool = field(default=False, metadata={"help": HELP})


@register_task("unmt_language_modeling", dataclass=UnmtLanguageModelingConfig)
class UnmtLanguageModelingTask(CpuBf16TrainStep, LanguageModelingTask):
    """fairseq's ``language_modeling`` (the causal LMs of ``unmt compress``) with ``--cpu-bf16``."""

"""How the model decodes, in one place: the evaluate stage, ``unmt translate`` and the training task's
dev BLEU (``unmt_backtranslation --valid-bleu``) all build their generator here, so dev BLEU during
training and test BLEU after it are measured the same way."""
from __future__ import annotations

import math

import torch

# output length bound: 1.5 x source + 10 tokens (fairseq's max_len_a / max_len_b)
MAX_LEN_A, MAX_LEN_B = 1.5, 10


def make_generator(model, dictionary, beam: int = 1, search=None, lenpen: float = 1.0, no_repeat_ngram: int = 0):
    """``search``: the task's target-vocabulary search when the model was trained with one (None: plain).
    ``lenpen``: fairseq's --lenpen, beam hypotheses ranked by score / length**lenpen (> 1: longer output).
    ``no_repeat_ngram``: fairseq's --no-repeat-ngram-size, no n-gram of pieces twice in one output (0: off);
    a weak model loops ("Microsoft Excel Microsoft Excel ...") until the length bound."""
    from fairseq.sequence_generator import SequenceGenerator

    generator = SequenceGenerator([model], dictionary, beam_size=beam, max_len_a=MAX_LEN_A, max_len_b=MAX_LEN_B,
                                  max_len=model.max_decoder_positions() - 1, search_strategy=search,
                                  len_penalty=lenpen)
    if no_repeat_ngram:  # given to fairseq it would build its own blocker, only to be replaced
        generator.repeat_ngram_blocker = RepeatedNgramBlock(no_repeat_ngram)
    return generator


class RepeatedNgramBlock(torch.nn.Module):
    """What the generator calls at each step in place of fairseq's NGramRepeatBlock, whose CPU path compares
    the buffer's padded tail instead of the generated prefix and so never blocks (fairseq issue #5206):
    every token that would complete an n-gram already in a hypothesis gets -inf."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def forward(self, tokens, lprobs, bsz: int, beam_size: int, step: int):
        n = self.n
        if step + 1 < n:  # no complete n-gram yet
            return lprobs
        prefix = tokens[:, : step + 1]  # the tag and the pieces generated so far, per hypothesis
        grams = prefix.unfold(1, n, 1)  # (hypotheses, windows, n)
        tail = prefix[:, step + 2 - n:]  # the last n - 1 pieces, which the next piece extends to an n-gram
        rows, cols = (grams[:, :, :-1] == tail.unsqueeze(1)).all(-1).nonzero(as_tuple=True)
        lprobs[rows, grams[rows, cols, -1]] = -math.inf
        return lprobs

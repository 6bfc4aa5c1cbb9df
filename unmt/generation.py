"""How the model decodes, in one place: the evaluate stage, ``unmt translate`` and the training task's
dev BLEU (``unmt_backtranslation --valid-bleu``) all build their generator here, so dev BLEU during
training and test BLEU after it are measured the same way."""
from __future__ import annotations

# output length bound: 1.5 x source + 10 tokens (fairseq's max_len_a / max_len_b)
MAX_LEN_A, MAX_LEN_B = 1.5, 10


def make_generator(model, dictionary, beam: int = 1, search=None, lenpen: float = 1.0):
    """``search``: the task's target-vocabulary search when the model was trained with one (None: plain).
    ``lenpen``: fairseq's --lenpen, beam hypotheses ranked by score / length**lenpen (> 1: longer output)."""
    from fairseq.sequence_generator import SequenceGenerator

    return SequenceGenerator([model], dictionary, beam_size=beam, max_len_a=MAX_LEN_A, max_len_b=MAX_LEN_B,
                             max_len=model.max_decoder_positions() - 1, search_strategy=search,
                             len_penalty=lenpen)

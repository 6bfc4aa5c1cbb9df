"""One function per job, as sacrebleu does: ``score_translations`` returns every number with its signature.

``bleu``/``chrf`` are sacrebleu's own (detokenized input, default 13a tokenizer), so they match
``sacrebleu REF -i HYP -m bleu chrf`` exactly. ``tok_bleu`` is BLEU on Moses-tokenized text with
no further tokenization — what multi-bleu.perl reports in the XLM/MUSE-era papers — for comparison.
"""
from __future__ import annotations

import functools

import sacrebleu
from sacrebleu.metrics import BLEU, CHRF


@functools.lru_cache(maxsize=8)
def _moses(lang: str):
    from sacremoses import MosesTokenizer

    return MosesTokenizer(lang=lang)


def moses_tokenize(lines: list[str], lang: str) -> list[str]:
    tok = _moses(lang)
    return [tok.tokenize(line, escape=False, return_str=True) for line in lines]


def score_translations(hyps: list[str], refs: list[str], tgt_lang: str) -> dict:
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses but {len(refs)} references: they must align line by line")
    bleu, chrf = BLEU(), CHRF()
    b = bleu.corpus_score(hyps, [refs])
    c = chrf.corpus_score(hyps, [refs])
    tok_bleu = BLEU(tokenize="none", force=True)
    tb = tok_bleu.corpus_score(moses_tokenize(hyps, tgt_lang), [moses_tokenize(refs, tgt_lang)])
    return {
        "bleu": round(b.score, 2), "chrf": round(c.score, 2), "tok_bleu": round(tb.score, 2),
        "bleu_signature": str(bleu.get_signature()), "chrf_signature": str(chrf.get_signature()),
        "tok_bleu_signature": f"moses-tok({tgt_lang})+" + str(tok_bleu.get_signature()),
        "bleu_detail": str(b), "sentences": len(hyps), "sacrebleu_version": sacrebleu.__version__,
    }

"""One function per job, as sacrebleu does: ``score_translations`` returns every number with its signature.

``bleu``/``chrf`` are sacrebleu's own (detokenized input; the 13a tokenizer, or sacrebleu's ``zh`` into
Chinese and ``ja-mecab`` into Japanese, as WMT scores them), so they match ``sacrebleu REF -i HYP -m bleu chrf
[-tok zh|ja-mecab]`` exactly. ``tok_bleu`` is BLEU on Moses-tokenized text (into Chinese: jieba-segmented
words; into Japanese: MeCab/IPA words, unmt/segment.py) with no further
tokenization — what multi-bleu.perl reports in the XLM/MUSE-era papers — for comparison.
"""
from __future__ import annotations

import functools

import sacrebleu
from sacrebleu.metrics import BLEU, CHRF

from unmt.segment import SEGMENTED, bleu_tokenizer, segments, spaced


@functools.lru_cache(maxsize=8)
def _moses(lang: str):
    from sacremoses import MosesTokenizer

    return MosesTokenizer(lang=lang)


def moses_tokenize(lines: list[str], lang: str) -> list[str]:
    tok = _moses(lang)
    return [tok.tokenize(line, escape=False, return_str=True) for line in lines]


def word_tokenize(lines: list[str], lang: str) -> tuple[list[str], str]:
    """The tokenization tok-BLEU uses, and its name for the signature."""
    if not spaced(lang):
        segmenter = SEGMENTED[lang]
        return [" ".join(p for p in segments(line, lang) if not p.isspace()) for line in lines], f"{segmenter}-seg({lang})"
    return moses_tokenize(lines, lang), f"moses-tok({lang})"


def score_translations(hyps: list[str], refs: list[str], tgt_lang: str) -> dict:
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses but {len(refs)} references: they must align line by line")
    bleu, chrf, chrf_pp = BLEU(tokenize=bleu_tokenizer(tgt_lang)), CHRF(), CHRF(word_order=2)
    b = bleu.corpus_score(hyps, [refs])
    c = chrf.corpus_score(hyps, [refs])
    cpp = chrf_pp.corpus_score(hyps, [refs])  # chrF++: word unigrams and bigrams beside the character n-grams
    tok_bleu = BLEU(tokenize="none", force=True)
    (hyp_tok, tok_name), (ref_tok, _) = word_tokenize(hyps, tgt_lang), word_tokenize(refs, tgt_lang)
    tb = tok_bleu.corpus_score(hyp_tok, [ref_tok])
    return {
        "bleu": round(b.score, 2), "chrf": round(c.score, 2), "chrf_pp": round(cpp.score, 2),
        "tok_bleu": round(tb.score, 2),
        "bleu_signature": str(bleu.get_signature()), "chrf_signature": str(chrf.get_signature()),
        "chrf_pp_signature": str(chrf_pp.get_signature()),
        "tok_bleu_signature": f"{tok_name}+" + str(tok_bleu.get_signature()),
        "bleu_detail": str(b), "sentences": len(hyps), "sacrebleu_version": sacrebleu.__version__,
    }


def translated_lines(sources: list[str], refs: list[str]) -> list[int]:
    """Indices of the test lines whose reference is not its source again (the same words): LibreOffice
    leaves some help untranslated, and on those lines copying the source scores 100."""
    return [i for i, (src, ref) in enumerate(zip(sources, refs)) if src.split() != ref.split()]


def score_translated_lines(hyps: list[str], refs: list[str], keep: list[int], tgt_lang: str) -> dict:
    """BLEU and chrF on the lines ``keep`` only (see ``translated_lines``)."""
    full = score_translations([hyps[i] for i in keep], [refs[i] for i in keep], tgt_lang)
    return {k: full[k] for k in ("bleu", "chrf", "sentences")}

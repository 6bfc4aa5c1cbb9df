"""What a *word* is, per language, for every word-level step: PPMI vectors, identical-string seeds,
lexicons and their test dictionaries, the word-by-word baseline, the lexical mining encoder.

Languages written with spaces are split by one Unicode pattern (letters, with inner hyphens, or digits).
Chinese and Japanese are written without spaces, so that pattern would call a whole clause one word; a
segmenter cuts it first and the same pattern then applies to each piece. Chinese: jieba, the
dictionary-and-HMM segmenter most Chinese NLP uses, which cuts into the units CC-CEDICT lists. Japanese:
MeCab with the IPA dictionary (mecab-python3 + ipadic), the very analyser sacrebleu's ``ja-mecab`` BLEU
tokenizer runs, so the words of every word-level step are the tokens BLEU counts.
"""
from __future__ import annotations

import functools
import re

from unmt.errors import UnmtError

TOKEN_RE = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*|\d+")
# Everything, so word-by-word can rebuild a line: words, runs of space, any other single character.
PIECE_RE = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*|\s+|.", re.UNICODE)
SEGMENTED = {"zh": "jieba", "zh_tw": "jieba", "ja": "mecab"}
# sacrebleu's tokenizer into each segmented language (WMT's choices); 13a elsewhere
BLEU_TOKENIZERS = {"zh": "zh", "zh_tw": "zh", "ja": "ja-mecab"}
UNSUPPORTED = {"km": "a Khmer segmenter", "dz": "a Dzongkha segmenter"}


# Languages written in a script of their own: a line with none of its characters is not in that language
# (LibreOffice's Chinese help keeps 40% of its paragraphs in English, untranslated). Latin-script
# languages cannot be told apart this way and pass every line.
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
SCRIPTS = {
    "zh": _HAN, "zh_tw": _HAN, "ja": _HAN + "\u3040-\u30ff", "ko": "\uac00-\ud7af\u1100-\u11ff",
    "ru": "\u0400-\u04ff", "el": "\u0370-\u03ff", "hi": "\u0900-\u097f", "km": "\u1780-\u17ff",
    "dz": "\u0f00-\u0fff",
}
_SCRIPT_RE = {lang: re.compile(f"[{chars}]") for lang, chars in SCRIPTS.items()}


def written_in(line: str, lang: str) -> bool:
    """False when ``lang`` has a script of its own and the line has not one character of it (an
    untranslated English paragraph in a Chinese file, say); True otherwise."""
    pattern = _SCRIPT_RE.get(lang)
    return pattern is None or pattern.search(line) is not None


def check_language(lang: str, where: str = "langs") -> None:
    if lang in UNSUPPORTED:
        raise UnmtError(f"{where}: '{lang}' is written without spaces and needs {UNSUPPORTED[lang]} for word "
                        f"segmentation, which unmt does not install yet -- choose another language")


@functools.lru_cache(maxsize=None)
def _jieba():
    import logging
    import warnings

    with warnings.catch_warnings():  # jieba imports pkg_resources, which warns on import
        warnings.simplefilter("ignore")
        import jieba
    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


@functools.lru_cache(maxsize=None)
def _mecab():
    try:
        import ipadic
        import MeCab
    except ImportError as e:
        raise UnmtError(f"Japanese word segmentation needs mecab-python3 and ipadic ({e}) -- run scripts/install.sh") from e
    return MeCab.Tagger(ipadic.MECAB_ARGS + " -Owakati")


def _mecab_cut(line: str) -> list[str]:
    # MeCab's wakati output drops the spaces of the line; find each token in the line again so that the
    # pieces still concatenate to it
    pieces, pos = [], 0
    for token in _mecab().parse(line).split():
        at = line.find(token, pos)
        if at < 0:
            break
        if at > pos:
            pieces.append(line[pos:at])
        pieces.append(token)
        pos = at + len(token)
    if pos < len(line):
        pieces.append(line[pos:])
    return pieces


def segments(line: str, lang: str) -> list[str]:
    """The line cut into pieces that keep every character (concatenated they give the line back)."""
    segmenter = SEGMENTED.get(lang)
    if segmenter == "jieba":
        return [p for piece in _jieba().cut(line, HMM=True) for p in PIECE_RE.findall(piece)]
    if segmenter == "mecab":
        return [p for piece in _mecab_cut(line) for p in PIECE_RE.findall(piece)]
    return PIECE_RE.findall(line)


def words(line: str, lang: str) -> list[str]:
    """Lower-cased word and number tokens of a line, in order."""
    if lang in SEGMENTED:
        return list(_segmented_words(line, lang))
    return TOKEN_RE.findall(line.lower())


@functools.lru_cache(maxsize=1 << 16)
def _segmented_words(line: str, lang: str) -> tuple[str, ...]:
    # the mining encoder, its plausibility filter and the vocabularies segment the same lines again; the
    # segmenter is the slow step, so each line is cut once per process
    return tuple(t for piece in segments(line, lang) for t in TOKEN_RE.findall(piece.lower()))


def spaced(lang: str) -> bool:
    """Whether words of this language are separated by spaces (word-by-word output joins accordingly)."""
    return lang not in SEGMENTED


def bleu_tokenizer(lang: str) -> str:
    """sacrebleu's tokenizer for a target language (its signature records it): zh splits Chinese characters,
    ja-mecab cuts Japanese into MeCab/IPA words."""
    return BLEU_TOKENIZERS.get(lang, "13a")


def character_coverage(langs) -> float:
    """SentencePiece's character coverage: every character for alphabets; 0.9995 where thousands of rare
    characters would otherwise each take a vocabulary entry (SentencePiece's own advice for CJK)."""
    return 0.9995 if any(lang in SEGMENTED for lang in langs) else 1.0

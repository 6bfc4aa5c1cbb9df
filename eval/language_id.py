"""Is the output in the language asked for? The share of lines that langid.py (Lui & Baldwin 2012, the
identifier multilingual-NMT papers report off-target rates with) assigns to the target language, choosing
among the run's own languages only. A translation model trained by denoising answers in the *source*
language whenever copying is cheaper than translating; BLEU cannot tell that from a bad translation.
The references' own share is the ceiling: short help lines ("Calc", "SUM") are ambiguous."""
from __future__ import annotations

import copy
import functools


@functools.lru_cache(maxsize=1)
def _full_identifier():
    from langid.langid import LanguageIdentifier, model

    return LanguageIdentifier.from_modelstring(model, norm_probs=False)   # decoding the model: ~0.5 s, once


@functools.lru_cache(maxsize=None)
def _identifier(langs: tuple[str, ...]):
    # set_languages rebinds the trimmed arrays on the copy and keeps the full model shared, so every
    # language set costs a copy, not another model decode
    ident = copy.copy(_full_identifier())
    ident.set_languages(list(langs))
    return ident


def _langid_languages() -> frozenset:
    return frozenset(_full_identifier().nb_classes)


def target_share(lines: list[str], lang: str, langs) -> float | None:
    """Percent of non-empty ``lines`` identified as ``lang`` among ``langs`` (None: langid knows too few of them)."""
    choices = tuple(sorted(set(langs) & _langid_languages()))
    lines = [line for line in lines if line.strip()]
    if lang not in choices or len(choices) < 2 or not lines:
        return None
    ident = _identifier(choices)
    return round(100 * sum(ident.classify(line)[0] == lang for line in lines) / len(lines), 1)


def format_share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"

"""Unsupervised selection criteria: how good a map looks without gold data, each beside its value under
a random rotation. ``frequency`` (the default): Spearman correlation between the frequency ranks of the most
frequent source words and of their CSLS translations -- the normalised vectors every method maps carry no
frequency, so no method can fit it. ``muse``: MUSE's mean cosine of the CSLS translations, which VecMap's
self-learning maximises nearly directly."""
from __future__ import annotations

import typing

import numpy as np

from unmt.config import AlignCriterion
from unmt.search import csls_retrieve


CRITERIA = typing.get_args(AlignCriterion)


def selection_criterion(SW: np.ndarray, T: np.ndarray, n: int = 10000, k: int = 10) -> float:
    """MUSE's unsupervised criterion: mean cosine between the top-n source words and their CSLS translation."""
    S_ = SW[:n]
    _, idx = csls_retrieve(S_, T, k, 1)
    return float(np.mean(np.sum(S_ * T[idx[:, 0]], axis=1)))


def frequency_agreement(SW: np.ndarray, T: np.ndarray, n: int = 3000, k: int = 10) -> float:
    """Spearman correlation between the frequency ranks of the top-n source words (the lists are frequency-
    ranked, so a rank is an index) and those of their CSLS translations: 0 for an unrelated map."""
    _, idx = csls_retrieve(SW[:n], T, k, 1)
    return frequency_agreement_of(idx[:, 0])


def frequency_agreement_of(translations: np.ndarray, n: int = 3000) -> float:
    """``frequency_agreement`` of a lexicon given as each source word's target index (both frequency-ranked)."""
    from scipy.stats import spearmanr

    t = translations[:n]
    rho = spearmanr(np.arange(len(t)), t).correlation
    return float(0.0 if np.isnan(rho) else rho)


def criteria(SW: np.ndarray, T: np.ndarray) -> dict:
    return {"criterion": round(selection_criterion(SW, T), 4), "frequency_agreement": round(frequency_agreement(SW, T), 4)}


CRITERION_KEY = {"muse": "criterion", "frequency": "frequency_agreement"}


def criterion_null(S: np.ndarray, T: np.ndarray, seed: int = 0) -> dict:
    """The selection criteria under a random rotation: what 'no alignment at all' scores."""
    Q, _ = np.linalg.qr(np.random.RandomState(seed).normal(size=(S.shape[1], S.shape[1])))
    return criteria(S @ Q.astype(np.float32), T)

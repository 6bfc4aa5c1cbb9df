"""faiss search, CSLS and margin mining on planted data (their properties, not their scores)."""
import numpy as np
import pytest

from unmt.align import identical_pairs, induce_lexicon, normalise, procrustes
from unmt.config import AlignConfig
from unmt.errors import UnmtError
from unmt.mine import margin_mine
from unmt.search import combine_directions, csls_retrieve, knn


def unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_faiss_returns_planted_nearest_neighbour():
    rng = np.random.default_rng(0)
    base = unit(rng.normal(size=(2000, 64)))
    q = unit(base[[7, 1234]] + 0.01 * rng.normal(size=(2, 64)))
    _, idx = knn(q, base, 3)
    assert list(idx[:, 0]) == [7, 1234]
    for kind in ("ivf", "ivfpq"):  # the large-pool indexes find the planted neighbours too
        _, idx = knn(q, base, 3, kind)
        assert 7 in idx[0] and 1234 in idx[1]


def test_csls_matches_brute_force():
    rng = np.random.default_rng(1)
    S, T = unit(rng.normal(size=(300, 32))), unit(rng.normal(size=(400, 32)))
    sims = S @ T.T
    r_s = np.sort(sims, axis=1)[:, -10:].mean(1)
    r_t = np.sort(sims.T, axis=1)[:, -10:].mean(1)
    brute = 2 * sims - r_s[:, None] - r_t[None, :]
    scores, idx = csls_retrieve(S, T, 10, 1)
    assert np.array_equal(idx[:, 0], brute.argmax(1))
    np.testing.assert_allclose(scores[:, 0], brute.max(1), rtol=1e-4, atol=1e-4)


def test_one_switch_combines_forward_and_backward_neighbours():
    fwd = np.array([0, 2, 2])        # best target of each source
    bwd = np.array([0, 0, 1, 2])     # best source of each target
    pairs = lambda mode: {(i, j) for _, i, j in combine_directions(fwd, bwd, mode)}  # noqa: E731
    assert pairs("forward") == {(0, 0), (1, 2), (2, 2)}
    assert pairs("backward") == {(0, 0), (0, 1), (1, 2), (2, 3)}
    assert pairs("intersect") == {(0, 0), (1, 2)}
    assert pairs("max") == pairs("forward") | pairs("backward")
    assert len(combine_directions(fwd, bwd, "max")) == len(pairs("max"))  # each pair once
    with pytest.raises(ValueError):
        combine_directions(fwd, bwd, "both")


def test_procrustes_recovers_orthogonal_map_from_identical_strings():
    rng = np.random.default_rng(2)
    n, d = 1500, 48
    X = rng.normal(size=(n, d)).astype(np.float32)
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    Y = (X @ Q + 0.05 * rng.normal(size=(n, d))).astype(np.float32)
    perm = rng.permutation(n)
    src_words = [f"w{i}" for i in range(n)]
    tgt_words = [f"v{i}" for i in perm]
    for k in range(40):  # a few shared strings, as numbers and names are in real corpora
        tgt_words[int(np.where(perm == k)[0][0])] = f"w{k}"
    Yp = Y[perm]
    gold = {i: {int(np.where(perm == i)[0][0])} for i in range(n)}
    # synthetic words have no frequency ranks, so no rank filter on the seeds here
    W, hist = induce_lexicon(X, Yp, src_words, tgt_words, "identical",
                             AlignConfig(iterations=3, max_rank=n, max_rank_ratio=None), gold=gold)
    assert len(identical_pairs(src_words, tgt_words, None)) == 40
    assert hist[-1]["p@1"] >= 95.0
    assert hist[-1]["dictionary_size"] > 40


def test_procrustes_is_orthogonal():
    rng = np.random.default_rng(3)
    S, T = normalise(rng.normal(size=(100, 16))), normalise(rng.normal(size=(100, 16)))
    W = procrustes(S, T, np.stack([np.arange(100), np.arange(100)], 1))
    np.testing.assert_allclose(W @ W.T, np.eye(16), atol=1e-4)


def test_margin_recovers_planted_pairs_and_beats_cosine_on_hubs():
    # sources share a common direction u; the target pool holds noisy translations y_i of x_i plus
    # a few "hub" sentences close to u, hence close to every source
    rng = np.random.default_rng(4)
    d, n = 64, 400
    u = unit(rng.normal(size=(1, d)))
    X = unit(0.8 * u + 0.6 * unit(rng.normal(size=(n, d))))
    Y = unit(X + 0.7 * unit(rng.normal(size=(n, d))))
    Y = np.vstack([Y, unit(u + 0.05 * rng.normal(size=(10, d)))])
    cosine_acc = ((X @ Y.T).argmax(1) == np.arange(n)).mean()
    mined = margin_mine(X, Y, k=4, mode="forward", threshold=0.0)
    margin_acc = sum(i == j for _, i, j in mined) / n
    assert margin_acc >= 0.95
    assert margin_acc > cosine_acc + 0.1  # cosine falls for the hubs, the margin does not
    hub_by_margin = sum(j >= n for _, i, j in mined)
    hub_by_cosine = int(((X @ Y.T).argmax(1) >= n).sum())
    assert hub_by_margin * 5 < hub_by_cosine


def test_empty_pool_is_a_clear_error():
    with pytest.raises(UnmtError, match="non-empty"):
        margin_mine(np.zeros((0, 8), np.float32), np.ones((3, 8), np.float32))


def test_one_language_given_twice_is_a_clear_error():
    from unmt.mine import check_pools

    en = [f"Click the button number {i}." for i in range(100)]
    with pytest.raises(UnmtError, match="one language twice"):
        check_pools(en, en[:60] + ["Cliquez."] * 40, "en", "fr")
    with pytest.raises(UnmtError, match="fr pool is empty"):
        check_pools(en, [], "en", "fr")
    check_pools(en, [f"Cliquez sur le bouton {i}." for i in range(100)], "en", "fr")  # no error


def test_identical_seeds_need_similar_frequency_ranks():
    # "the" is the top English word but a rare quotation in French text: not a seed; "date" is
    src = ["the", "of", "date", "table"]
    tgt = ["de", "la", "table", "date"] + [f"w{i}" for i in range(500)] + ["the"]
    pairs = identical_pairs(src, tgt, 2.0)
    assert {(src[i], tgt[j]) for i, j in pairs} == {("date", "date"), ("table", "table")}
    assert len(identical_pairs(src, tgt, None)) == 3


def test_torch_fallback_without_faiss_gives_the_same_neighbours_and_mining(monkeypatch):
    """A GPU machine without faiss: every search runs exactly in torch and finds what faiss finds."""
    import unmt.search as search

    rng = np.random.RandomState(3)
    S, T = unit(rng.randn(300, 24).astype(np.float32)), unit(rng.randn(400, 24).astype(np.float32))
    want_scores, want_idx = csls_retrieve(S, T, k=10, topn=5)
    src = unit(rng.randn(120, 24).astype(np.float32))
    tgt = unit(src[::-1] + 0.05 * rng.randn(120, 24).astype(np.float32))
    want_pairs = margin_mine(src, tgt, k=4, mode="intersect")
    monkeypatch.setattr(search, "BACKEND", "torch")
    monkeypatch.setattr(search, "faiss", None)  # as if the import had failed
    got_scores, got_idx = csls_retrieve(S, T, k=10, topn=5)
    assert isinstance(search.build_index(T), search.TorchExactIndex)
    assert (got_idx[:, 0] == want_idx[:, 0]).mean() == 1.0
    np.testing.assert_allclose(got_scores, want_scores, atol=1e-4)
    got_pairs = margin_mine(src, tgt, k=4, mode="intersect")
    assert [(i, j) for _, i, j in got_pairs] == [(i, j) for _, i, j in want_pairs]
    assert {(i, j) for _, i, j in got_pairs} >= {(i, 119 - i) for i in range(0, 120, 7)}

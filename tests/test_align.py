"""Lexicon induction on synthetic spaces with a known answer: related by a random orthogonal map
plus noise (each unsupervised method must recover it), or unrelated (the criterion must say so)."""
import json

import numpy as np
import pytest

from conftest import unmt
from unmt.align import (adversarial_init, criterion_null, frequency_agreement, induce_lexicon, normalise,
                        precision_at_k, procrustes, read_vec, selection_criterion, vecmap_init, write_vec)
from unmt.config import AlignConfig
from unmt.errors import UnmtError

N, D = 1000, 16


def synthetic_spaces(related=True, seed=0, noise=0.02, D=D):
    """Skewed, anisotropic coordinates (as real embeddings are), so the map is identifiable from the
    distributions alone; rows are in the same 'frequency' order in both spaces, as in real vocabularies."""
    rng = np.random.default_rng(seed)
    scales = np.linspace(2.0, 0.5, D)
    X = (rng.gamma(2.0, size=(N, D)) - 2.0) * scales
    Q, _ = np.linalg.qr(rng.normal(size=(D, D)))
    if related:
        Y = X @ Q + noise * rng.normal(size=(N, D))
    else:
        Y = ((rng.gamma(2.0, size=(N, D)) - 2.0) * scales) @ Q
    src = [f"s{i}" for i in range(N)]
    tgt = [f"t{i}" for i in range(N)]
    for i in range(0, N, 25):  # a few shared strings, as numbers and names are in real corpora
        tgt[i] = src[i]
    return X.astype(np.float32), Y.astype(np.float32), src, tgt


GOLD = {i: {i} for i in range(N)}


@pytest.mark.parametrize("method", ["identical", "vecmap", "adversarial"])
def test_unsupervised_method_recovers_orthogonal_map(method):
    X, Y, src, tgt = synthetic_spaces()
    a = AlignConfig(iterations=3, max_rank=N, max_rank_ratio=None, adversarial_steps=300, stochastic_interval=2)
    W, hist = induce_lexicon(X, Y, src, tgt, method, a, gold=GOLD)
    assert hist[-1]["p@1"] >= 95.0, hist[-1]
    np.testing.assert_allclose(W @ W.T, np.eye(D), atol=1e-3)  # orthogonality kept


def test_adversarial_game_pulls_a_rough_start_onto_the_map():
    """The discriminator game itself (no Procrustes refinement) turns a start that gets ~10% of the words
    right into the true map; this is the work the principal-axes start leaves to it on real spaces."""
    X, Y, _, _ = synthetic_spaces()
    S, T = normalise(X), normalise(Y)
    true_map = procrustes(S, T, np.stack([np.arange(N)] * 2, axis=1))
    P, _ = np.linalg.qr(np.eye(D) + 0.3 * np.random.default_rng(1).normal(size=(D, D)))
    start = true_map @ (P * np.sign(np.diag(P)))
    assert precision_at_k(S @ start, T, GOLD)["p@1"] <= 30.0   # 21.2 when written
    W = adversarial_init(S, T, steps=1000, most_frequent=N, start=start)
    assert precision_at_k(S @ W, T, GOLD)["p@1"] >= 60.0       # 70.7 when written; refinement does the rest
    np.testing.assert_allclose(W @ W.T, np.eye(D), atol=1e-2)


def test_vecmap_initial_dictionary_needs_no_seed():
    X, Y, _, _ = synthetic_spaces()
    pairs = vecmap_init(normalise(X), normalise(Y), 500)
    assert np.mean(pairs[:, 0] == pairs[:, 1]) > 0.5  # mostly right before any self-learning


@pytest.mark.parametrize("method", ["identical", "vecmap", "adversarial"])
def test_selection_criterion_tells_related_from_unrelated_spaces(method):
    gains, agreement = {}, {}
    for related in (True, False):  # 48-d: in very few dimensions any dictionary fits a rotation well
        X, Y, src, tgt = synthetic_spaces(related, D=48)
        a = AlignConfig(max_rank=N, stochastic_interval=2, max_rank_ratio=None, adversarial_steps=300)
        W, hist = induce_lexicon(X, Y, src, tgt, method, a, gold=GOLD)
        S, T = normalise(X), normalise(Y)
        gains[related] = selection_criterion(S @ W, T) - criterion_null(S, T)["criterion"]
        agreement[related] = frequency_agreement(S @ W, T)
        if not related:
            assert hist[-1]["p@1"] < 5.0
    assert gains[True] > 0.3
    assert gains[False] < gains[True] / 3  # the unrelated pair scores little above a random rotation
    # the rows are in the same frequency order: the right map keeps it, a map between unrelated spaces cannot
    assert agreement[True] > 0.9 and abs(agreement[False]) < 0.2


@pytest.mark.slow
def test_frequency_criterion_ranks_methods_as_p_at_1_does_on_real_vectors():
    """On the embedded en-fr corpus's own PPMI vectors, MUSE's criterion prefers vecmap's wrong map (its
    self-learning maximises nearly that criterion) and frequency agreement prefers identical, as P@1 does."""
    import lzma

    from conftest import CORPUS
    from unmt.align import read_dictionary, word_vectors_ppmi

    emb = {}
    for lang in ("en", "fr"):
        with lzma.open(CORPUS / f"train.{lang}.xz", "rt", encoding="utf-8") as f:
            emb[lang] = word_vectors_ppmi(f.read().splitlines(), lang)
    (sw, S), (tw, T) = emb["en"], emb["fr"]
    gold, _ = read_dictionary(CORPUS / "dict.en-fr.test.txt", sw, tw)
    last = {m: induce_lexicon(S, T, sw, tw, m, AlignConfig(max_rank=3000), gold=gold)[1][-1]
            for m in ("identical", "vecmap")}
    assert last["identical"]["p@1"] > last["vecmap"]["p@1"] + 5
    assert last["identical"]["frequency_agreement"] > last["vecmap"]["frequency_agreement"]
    assert last["identical"]["criterion"] < last["vecmap"]["criterion"]  # MUSE's criterion: the wrong choice


def test_vec_files_round_trip_and_bad_files(tmp_path):
    X, _, src, _ = synthetic_spaces()
    write_vec(tmp_path / "a.vec", src[:50], X[:50])
    words, V = read_vec(tmp_path / "a.vec")
    assert words == src[:50]
    np.testing.assert_allclose(V, X[:50], atol=1e-4)
    (tmp_path / "bad.vec").write_text("hello 1 2\n")
    with pytest.raises(UnmtError, match="header"):
        read_vec(tmp_path / "bad.vec")
    (tmp_path / "ragged.vec").write_text("20 3\n" + "".join(f"w{i} 1 2 3\n" for i in range(15)) + "w 1 2\n")
    with pytest.raises(UnmtError, match="line 17 has 2 values"):
        read_vec(tmp_path / "ragged.vec")


def test_induce_lexicon_cli_on_vec_files(tmp_path):
    X, Y, src, tgt = synthetic_spaces()
    write_vec(tmp_path / "s.vec", src, X)
    write_vec(tmp_path / "t.vec", tgt, Y)
    pairs = [f"{src[i]} {tgt[i]}" for i in range(N)]
    (tmp_path / "d.train.txt").write_text("\n".join(pairs[:500]) + "\n")
    (tmp_path / "d.test.txt").write_text("\n".join(pairs[500:700]) + "\n")
    out = tmp_path / "out"
    r = unmt("induce-lexicon", "--src-vec", tmp_path / "s.vec", "--tgt-vec", tmp_path / "t.vec", "--src", "xx",
             "--tgt", "yy", "--dict-test", tmp_path / "d.test.txt", "--methods", "identical,vecmap",
             "--max-rank", N, "--out", out)
    res = json.loads((out / "results.json").read_text())
    assert set(res) == {"xx-yy", "yy-xx"}
    for rec in res.values():
        assert rec["methods"][rec["selected"]]["p@1"] >= 95.0
        assert rec["supervised_procrustes"]["p@1"] >= 95.0
        assert rec["methods"][rec["selected"]]["criterion"] > rec["criterion_random_rotation"]
        assert rec["selected_by"] == "frequency"
        # the right map sends every word to the word as frequent; a random rotation, to any word
        assert rec["methods"][rec["selected"]]["frequency_agreement"] > 0.9
        assert abs(rec["frequency_agreement_random_rotation"]) < 0.2
    W = np.load(out / "mapping.xx-yy.npy")
    assert W.shape == (D, D)
    lexicon = dict(line.split() for line in (out / "lexicon.xx-yy.txt").read_text().splitlines())
    assert np.mean([lexicon[src[i]] == tgt[i] for i in range(500, 700)]) >= 0.95
    assert (out / "lexicon_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert "| xx-yy |" in (out / "results.md").read_text() and "selected" in r.stdout


def test_induce_lexicon_cli_rejects_mismatched_dimensions(tmp_path):
    X, Y, src, tgt = synthetic_spaces()
    write_vec(tmp_path / "s.vec", src, X)
    write_vec(tmp_path / "t.vec", tgt, Y[:, :8])
    r = unmt("induce-lexicon", "--src-vec", tmp_path / "s.vec", "--tgt-vec", tmp_path / "t.vec", "--out",
             tmp_path / "o", check=False)
    assert r.returncode == 2 and "same dimension" in r.stderr and "t.vec" in r.stderr


def markov_corpora(concepts=400, lines=3000, shared_every=10, seed=0):
    """Two languages' texts drawn independently (different sentences) from one Markov chain over concepts,
    each concept spelled differently in each language except every ``shared_every``-th (as numbers and
    product names are in real help pages); the gold lexicon is the concepts' two spellings."""
    rng = np.random.default_rng(seed)
    succ = rng.integers(0, concepts, size=(concepts, 6))
    prob = rng.dirichlet(np.ones(6) * 0.5, size=concepts)
    start = 1.0 / np.arange(1, concepts + 1)

    def spell(c, prefix):  # letters only: the word vectors keep alphabetic words
        return ("zz" if c % shared_every == 0 else prefix) + chr(97 + c // 26) + chr(97 + c % 26)

    def text(prefix, r):
        out = []
        for _ in range(lines):
            c = r.choice(concepts, p=start / start.sum())
            words = []
            for _ in range(12):
                words.append(spell(c, prefix))
                c = succ[c, r.choice(6, p=prob[c])]
            out.append(" ".join(words))
        return out

    return text("qa", np.random.default_rng(seed + 1)), text("xe", np.random.default_rng(seed + 2)), \
        {spell(c, "qa"): spell(c, "xe") for c in range(concepts) if c % shared_every}


def test_context_method_matches_distributions_beyond_its_identical_anchors(tmp_path):
    """Rapp/Fung context vectors: from the tokens spelled alike only, the method finds the translations of
    the words spelled differently -- which no gold test word is -- and its rounds improve on the start."""
    from unmt.align import align_embeddings, context_lexicon, ppmi_matrix, read_dictionary, word_vectors_ppmi
    from unmt.config import AlignConfig
    from unmt.layout import RunLayout

    a_text, b_text, lexicon = markov_corpora()
    ctx = {"en": ppmi_matrix(a_text, "en"), "fr": ppmi_matrix(b_text, "fr")}
    (tmp_path / "d.txt").write_text("".join(f"{s} {t}\n" for s, t in lexicon.items()))
    words = {l: list(ctx[l][0]) for l in ctx}  # frequency order, as the stage has them
    gold, _ = read_dictionary(tmp_path / "d.txt", words["en"], words["fr"])
    assert len(gold) > 300
    best, pairs, hist = context_lexicon(ctx["en"][1], ctx["fr"][1], ctx["en"][0], ctx["fr"][0], words["en"],
                                        words["fr"], iterations=3, max_rank=400, gold=gold)
    assert hist[0]["anchors_spelled_alike"] <= 40 and hist[-1]["dictionary_size"] > 2 * hist[0]["dictionary_size"]
    assert hist[-1]["p@1"] >= 80.0 and hist[-1]["p@1"] > hist[0]["p@1"] + 10  # 98.0 / 61.1 when written
    assert hist[-1]["frequency_agreement"] > 0.5

    # in the stage: selected over identical-string Procrustes by the frequency criterion, its lexicon written
    emb = {"en": word_vectors_ppmi(a_text, "en", dim=50), "fr": word_vectors_ppmi(b_text, "fr", dim=50)}
    align_embeddings(emb, [("en", "fr")], {("en", "fr"): tmp_path / "d.txt"},
                     AlignConfig(methods=["identical", "context"], max_rank=400, iterations=3), 1,
                     RunLayout(tmp_path), "align", contexts=ctx)
    full = json.loads((tmp_path / "align/results.json").read_text())
    for direction in ("en-fr", "fr-en"):
        m = full[direction]["methods"]
        assert full[direction]["selected"] == "context", m
        assert m["context"]["p@1"] >= m["identical"]["p@1"] and m["context"]["p@1"] >= 80.0  # 98.0 / 91.9 when written
        assert full[direction]["spelled_alike"]["test_words"] == 0 == full[direction]["spelled_alike"]["p@1_points"]
    assert "Identical strings in the selected lexicon's P@1" in (tmp_path / "align/results.md").read_text()
    written = dict(line.split() for line in (tmp_path / "align/lexicon.en-fr.txt").read_text().splitlines())
    assert np.mean([written.get(s) == t for s, t in lexicon.items()]) > 0.8


def test_context_method_needs_the_texts():
    from unmt.align import check_align_config
    from unmt.config import AlignConfig

    with pytest.raises(UnmtError, match="'context' reads the text's co-occurrences"):
        check_align_config(AlignConfig(vectors="vec", methods=["context"]))
    r = unmt("run", "recipes/tests/tiny.yaml", "--set", "align.vectors=encoder", "--set", "align.methods=[context]",
             "--dry-run", check=False)
    assert r.returncode != 0 and "align.methods: 'context'" in r.stderr and len(r.stderr.strip().splitlines()) == 1

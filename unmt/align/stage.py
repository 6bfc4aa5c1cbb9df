"""The align stage's driver: vectors per language, then for every pair and direction every configured
method; the selection criterion (no gold data) picks the lexicon and mapping the later stages read."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from unmt.errors import UnmtError
from unmt.layout import RunLayout
from unmt.align.criteria import CRITERIA, CRITERION_KEY, criterion_null
from unmt.align.evaluation import (invert_dictionary, lexicon_table, plot_history, precision_at_k,
                                   read_dictionary)
from unmt.align.methods import (ADVERSARIAL_STARTS, UNSUPERVISED, TooFewSeeds, identical_pairs, induce_lexicon,
                                lexicon_from_mapping, map_direction)
from unmt.align.vectors import load_vectors, normalise, ppmi_matrix


def align_stage(cfg, layout: RunLayout, checkpoint: Path | None) -> dict:
    """Word vectors per language -> for every pair, every configured unsupervised method, both directions
    -> the one with the best selection criterion gives the lexicon (no gold data used to choose);
    supervised Procrustes on the train dictionary beside it as the reference. Writes mapping.S-T.npy,
    lexicon.S-T.txt, words/vectors per language, results.json/.md and lexicon_curve.png."""
    from unmt.config import dictionary_for, pair_list

    contexts = None
    if "context" in cfg.align.methods:  # the method reads the PPMI matrices the vectors are made from (ppmi only)
        from unmt.io import read_lines

        a = cfg.align
        contexts = {lang: ppmi_matrix(read_lines(layout.text("train", lang))[: a.max_lines], lang, a.max_words,
                                      a.min_count, a.window) for lang in cfg.langs}
    emb = {lang: load_vectors(cfg, lang, layout, checkpoint, contexts and contexts[lang]) for lang in cfg.langs}
    pairs = pair_list(cfg)
    return align_embeddings(emb, pairs, {p: dictionary_for(cfg, *p) for p in pairs}, cfg.align, cfg.seed, layout,
                            contexts=contexts)


def check_align_config(a) -> None:
    """Reject unknown methods/starts before any vectors are built (`unmt induce-lexicon`; recipes are
    checked when they load)."""
    if a.criterion not in CRITERIA:
        raise UnmtError(f"align.criterion: unknown '{a.criterion}' -- use {' or '.join(CRITERIA)}")
    unknown = [m for m in a.methods if m not in UNSUPERVISED]
    if unknown or not a.methods:
        raise UnmtError(f"align.methods: {unknown or 'empty'} -- choose from {', '.join(UNSUPERVISED)}")
    if "context" in a.methods and a.vectors == "vec":
        raise UnmtError("align.methods: 'context' reads the text's co-occurrences, which .vec files do not have "
                        "-- drop 'context' here, or run it in a recipe (align.vectors: ppmi)")
    if "adversarial" in a.methods and a.adversarial_start not in ADVERSARIAL_STARTS:
        raise UnmtError(f"align.adversarial_start: unknown '{a.adversarial_start}' -- use {' or '.join(ADVERSARIAL_STARTS)}")


def train_dictionary(dictionary_test: str | Path) -> Path:
    """The supervised reference's seeds: the test dictionary's ``.train.`` sibling (MUSE's file naming)."""
    test_dict = Path(dictionary_test)
    return test_dict.with_name(test_dict.name.replace(".test.", ".train."))


def align_embeddings(emb: dict, pairs, dictionaries: dict, a, seed: int, layout: RunLayout,
                     stage: str = "align", contexts: dict | None = None) -> dict:
    """The stage's work on loaded embedding sets ``{lang: (words, vectors)}`` (also `unmt induce-lexicon`),
    for each (src, tgt) in ``pairs``, both directions, written to ``layout``'s folder ``stage``.
    ``dictionaries``: {(src, tgt): test dictionary path or None}; a missing file means no P@1 for that pair.
    ``contexts``: {lang: ``ppmi_matrix``}, needed by the ``context`` method only."""
    from unmt.io import save_array, write_lines, write_results, write_text

    for lang, (words, vectors) in emb.items():  # the mine stage builds sentence vectors from these
        write_lines(layout.words(lang, stage), words)
        save_array(layout.vectors(lang, stage), normalise(vectors))
    results, histories = {}, {}
    for src, tgt in pairs:
        dictionary = dictionaries.get((src, tgt))
        res, hist = align_pair(emb, src, tgt, dictionary, a, seed, layout, stage, contexts)
        results |= res
        histories |= hist
    plot_history(histories, layout.figure(stage, "lexicon_curve"))
    write_results(layout.results(stage), results)
    write_text(layout.results(stage, "md"), lexicon_table(results))
    return {pair: {"selected": r["selected"], **{k: v for k, v in r["methods"][r["selected"]].items()
                                                  if k.startswith("p@")}} for pair, r in results.items()}


def align_pair(emb: dict, src: str, tgt: str, dictionary: Path | None, a, seed: int, layout: RunLayout,
               stage: str, contexts: dict | None = None) -> tuple[dict, dict]:
    """One pair, both directions: every method, the selected mapping and lexicon written, P@1 where the
    test dictionary exists. Returns ({direction: record}, {curve name: history})."""
    from unmt.io import save_array, write_lines

    # gold test pairs and supervised seeds, read once in the src->tgt direction; tgt->src inverts them
    gold, seeds, p_at_1 = {}, {}, None
    if dictionary is None:
        p_at_1 = "not available: the recipe names no test dictionary (dictionary_test)"
    elif not Path(dictionary).is_file():
        p_at_1 = f"not available: no test dictionary for {src}-{tgt} ({dictionary} not found)"
    else:
        test_dict, train_dict = Path(dictionary), train_dictionary(dictionary)
        g, _ = read_dictionary(test_dict, emb[src][0], emb[tgt][0])
        gold = {(src, tgt): g, (tgt, src): invert_dictionary(g)}
        if train_dict.exists():
            tr, _ = read_dictionary(train_dict, emb[src][0], emb[tgt][0])
            for key, d in (((src, tgt), tr), ((tgt, src), invert_dictionary(tr))):
                seeds[key] = np.array([(i, j) for i, js in d.items() for j in js], dtype=np.int64).reshape(-1, 2)
    results, histories = {}, {}
    for s, t in ((src, tgt), (tgt, src)):
        (sw, S), (tw, T) = emb[s], emb[t]
        null = criterion_null(normalise(S), normalise(T))
        rec = {"vocab": {s: len(sw), t: len(tw)}, "identical_seed_pairs": int(len(identical_pairs(sw, tw, a.max_rank_ratio))),
               "criterion_random_rotation": null["criterion"],
               "frequency_agreement_random_rotation": null["frequency_agreement"], "methods": {}}
        if p_at_1:
            rec["p@1"] = p_at_1
        mappings, lexicons = {}, {}
        for method in a.methods:
            started = time.time()
            try:
                W, hist, lexicon = map_direction(method, S, T, sw, tw, a, seed, gold.get((s, t)),
                                                 contexts and (contexts[s], contexts[t]))
            except TooFewSeeds as e:
                if len(a.methods) == 1:
                    raise
                rec["methods"][method] = {"skipped": str(e)}
                print(f"[align] {s}-{t} {method}: skipped, {e}", file=sys.stderr, flush=True)
                continue
            if lexicon is not None:
                lexicons[method] = lexicon
            mappings[method] = W
            histories[f"{s}-{t} {method}"] = hist
            rec["methods"][method] = {**hist[-1], "seconds": round(time.time() - started, 1), "history": hist}
            last = hist[-1]  # progress: a pair of several methods takes minutes
            print(f"[align] {s}-{t} {method}: P@1 {last.get('p@1', '-')}, frequency agreement "
                  f"{last['frequency_agreement']}, MUSE criterion {last.get('criterion', '-')} "
                  f"({time.time() - started:.0f} s)", file=sys.stderr, flush=True)
        if not mappings:
            reasons = "; ".join(r["skipped"] for r in rec["methods"].values())
            raise UnmtError(f"align {s}-{t}: no method could start ({reasons})")
        key = CRITERION_KEY[a.criterion]
        selected = max(mappings, key=lambda m: rec["methods"][m][key])
        rec["selected"], rec["selected_by"] = selected, a.criterion
        save_array(layout.mapping(s, t, stage), mappings[selected])
        lexicon = lexicons.get(selected) or lexicon_from_mapping(S, T, mappings[selected], sw, tw)
        write_lines(layout.lexicon(s, t, stage), (f"{w} {v}" for w, v in lexicon.items()))
        if (s, t) in gold:
            rec["no_mapping"] = precision_at_k(normalise(S), normalise(T), gold[(s, t)])
            # how much identical strings explain: test words with a translation spelled alike, and the part
            # of the selected lexicon's P@1 that is such a word copied
            g = gold[(s, t)]
            hits = [sw[i] for i, js in g.items() if lexicon[sw[i]] in {tw[j] for j in js}]
            rec["spelled_alike"] = {"test_words": sum(any(sw[i] == tw[j] for j in js) for i, js in g.items()),
                                    "of": len(g), "p@1_points": round(100 * sum(lexicon[w] == w for w in hits) / len(g), 2),
                                    "selected_p@1": round(100 * len(hits) / len(g), 2)}
            if len(seeds.get((s, t), ())) >= 2:
                for name, its in (("supervised_procrustes", 0), ("supervised_refined", a.iterations)):
                    _, hsup = induce_lexicon(S, T, sw, tw, "supervised", a, seed_pairs=seeds[(s, t)], gold=gold[(s, t)],
                                             seed=seed, iterations=its)
                    rec[name] = hsup[-1]
        results[f"{s}-{t}"] = rec
    return results, histories

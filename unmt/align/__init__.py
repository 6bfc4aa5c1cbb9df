"""Stage 3 — align: bilingual lexicon induction from two monolingual embedding spaces (MUSE / VecMap).

    vectors.py     word vectors per language (PPMI+SVD, the shared LM, .vec files)
    methods.py     the methods behind one dispatch (identical, vecmap, adversarial, supervised, context)
    criteria.py    how good a map looks without gold data (frequency agreement, MUSE's mean cosine)
    evaluation.py  P@k against a MUSE-format dictionary, the table and the curves
    stage.py       the stage's driver: every pair, direction and method; the criterion picks the lexicon

Refinement (MUSE): orthogonal Procrustes on the current dictionary -> mutual CSLS nearest neighbours among
frequent words -> new dictionary; every search runs in faiss (``unmt/search.py``). What each method and
criterion scored on the committed corpora is in docs/findings.md.
"""
from unmt.align.criteria import (CRITERIA, CRITERION_KEY, criteria, criterion_null, frequency_agreement,  # noqa: F401
                                 frequency_agreement_of, selection_criterion)
from unmt.align.evaluation import (invert_dictionary, lexicon_table, plot_history, precision_at_k,  # noqa: F401
                                   precision_of, read_dictionary)
from unmt.align.methods import (ADVERSARIAL_STARTS, UNSUPERVISED, adversarial_init, context_lexicon,  # noqa: F401
                                context_vectors, csls_dictionary, identical_pairs, induce_lexicon,
                                lexicon_from_mapping, map_direction, mutual_csls_pairs, principal_axes_map,
                                procrustes, rank_filtered_csls, vecmap_init)
from unmt.align.stage import (align_embeddings, align_pair, align_stage, check_align_config,  # noqa: F401
                              train_dictionary)
from unmt.align.vectors import (WORD_RE, load_vectors, normalise, ppmi_matrix, read_vec,  # noqa: F401
                                word_vectors_from_embeddings, word_vectors_from_model, word_vectors_ppmi, write_vec)

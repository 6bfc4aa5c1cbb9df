"""fairseq ``--user-dir`` plugin: importing this package registers unmt's tasks with fairseq."""
from unmt.plugin import atomic_copy  # noqa: F401  (fairseq's checkpoint copies: temp, then rename)
from unmt.plugin import cpu_bf16  # noqa: F401  (unmt_language_modeling)
from unmt.plugin import semisupervised_fixed  # noqa: F401  (semisupervised_translation_fixed)
from unmt.plugin import unmt_backtranslation  # noqa: F401  (unmt_backtranslation)

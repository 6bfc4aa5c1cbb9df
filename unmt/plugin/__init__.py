"""fairseq ``--user-dir`` plugin: importing this package registers unmt's tasks with fairseq."""
from unmt.plugin import semisupervised_fixed  # noqa: F401  (registers semisupervised_translation_fixed)

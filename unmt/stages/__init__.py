"""The registered stages, one module each. Importing this package registers them all (``STAGES``)."""
from unmt.stages.base import STAGES, Context, Stage, register_stage  # noqa: F401
from unmt.stages import prepare, pretrain, align, mine, train, supervised, evaluate, lms, compress, ablation  # noqa: F401,E402

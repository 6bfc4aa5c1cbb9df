"""Entry point that ``torchrun`` starts once per process for data-parallel fairseq training.

fairseq reads torchrun's environment itself only when CUDA is present (it computes the device as
``rank % torch.cuda.device_count()``, a division by zero on CPU), so we hand it the rank explicitly;
everything else -- process group, gradient all-reduce, sharded batches -- is fairseq's own.
"""
from __future__ import annotations

import os
import sys


def main():
    rank, local_rank, world = (int(os.environ[k]) for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE"))
    sys.argv += ["--distributed-init-method", "env://", "--distributed-no-spawn",
                 "--distributed-world-size", str(world), "--distributed-rank", str(rank), "--device-id", str(local_rank)]
    from fairseq_cli.train import cli_main

    cli_main()


if __name__ == "__main__":
    main()

"""Entry point that ``torchrun`` starts once per process for data-parallel fairseq training.

fairseq reads torchrun's environment itself only when CUDA is present (it computes the device as
``rank % torch.cuda.device_count()``, a division by zero on CPU), so we hand it the rank explicitly;
everything else -- process group, gradient all-reduce, sharded batches -- is fairseq's own.

Another node joins a stage that node 0 started with ``--from-command RUN/STAGE/command.txt``: the same
fairseq arguments, read from the file the stage wrote (docs/scale.md, "Several nodes").
"""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path


def fairseq_args(command_file: str) -> list[str]:
    """The fairseq-train arguments of a stage's ``command.txt`` (what follows the launcher)."""
    path = Path(command_file)
    if not path.exists():
        sys.exit(f"{path}: command file not found -- start the stage on node 0 first (it writes this file), "
                 "on a filesystem every node sees")
    cmd = shlex.split(path.read_text(encoding="utf-8"))
    if "unmt.fairseq_launch" not in cmd:
        sys.exit(f"{path}: this stage was not started under torchrun -- start it on node 0 with UNMT_TORCHRUN set")
    return cmd[cmd.index("unmt.fairseq_launch") + 1:]


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--from-command":
        sys.argv[1:] = fairseq_args(sys.argv[2])
    rank, local_rank, world = (int(os.environ[k]) for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE"))
    sys.argv += ["--distributed-init-method", "env://", "--distributed-no-spawn",
                 "--distributed-world-size", str(world), "--distributed-rank", str(rank), "--device-id", str(local_rank)]
    from fairseq_cli.train import cli_main

    cli_main()
    # training is done and saved; gloo's threads can still abort the interpreter's teardown (SIGABRT), and
    # torchrun would then call the whole run failed
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()

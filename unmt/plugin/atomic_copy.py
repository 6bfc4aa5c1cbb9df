"""fairseq writes each checkpoint once, atomically (``<name>.tmp``, then a rename), and then *copies* it to
its other names (``checkpoint_best.pt``, ``checkpoint_last.pt``) with a plain ``shutil.copyfile``. A full
disk or a kill during such a copy leaves a truncated checkpoint under a finished-looking name. This module
makes those copies temp-then-rename too, with the same ``.tmp`` naming, so the runner finds (and names) a
copy that failed exactly as it finds a first write that failed (``unmt/fairseq_run.py``).

It replaces one function of fairseq's file layer in the training process only; no file is patched."""
from __future__ import annotations

import os
import shutil

from fairseq.file_io import PathManager


def copy_then_rename(src_path: str, dst_path: str, overwrite: bool = False) -> bool:
    if not overwrite and os.path.exists(dst_path):
        return False
    tmp = f"{dst_path}.tmp"  # left behind if the copy fails: the runner names and removes it
    shutil.copyfile(src_path, tmp)
    os.replace(tmp, dst_path)
    return True


PathManager.copy = staticmethod(copy_then_rename)

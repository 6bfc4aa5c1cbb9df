#!/usr/bin/env bash
# One command for a machine with a GPU: install unmt beside the machine's own CUDA torch, run the GPU
# recipe (recipes/scale/gpu-en-fr.yaml) end to end, print the results table and training throughput.
#   bash scripts/run_gpu.sh                      # one GPU
#   NPROC=2 bash scripts/run_gpu.sh              # data-parallel over 2 GPUs (torchrun + fairseq)
#   WHEELS=/path/to/wheels bash scripts/run_gpu.sh   # offline: pip installs only from that folder
# Needs: python3 with a CUDA build of torch, or network/WHEELS to install one. faiss-gpu is tried and
# may be missing: mining and lexicon induction then search exactly in torch (unmt/search.py).
set -euo pipefail
cd "$(dirname "$0")/.."
RECIPE=${RECIPE:-recipes/scale/gpu-en-fr.yaml}
VENV=${VENV:-.venv-gpu}
PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv --system-site-packages "$VENV"   # keep the machine's CUDA torch visible
fi
pip() { if [ -n "${WHEELS:-}" ]; then "$VENV/bin/python" -m pip install -q --no-index --find-links "$WHEELS" "$@";
        else "$VENV/bin/python" -m pip install -q "$@"; fi; }
"$VENV/bin/python" -c "import torch" 2>/dev/null || pip torch
# fairseq's denoising datasets need numpy<2; hydra/omegaconf pins as in scripts/install.sh (docs/install.md)
pip "numpy<2" cython "hydra-core==1.3.2" "omegaconf==2.3.0" "antlr4-python3-runtime==4.9.3" bitarray regex \
  tqdm packaging cffi "sacrebleu>=2.3,<3" sentencepiece click pyyaml matplotlib zstandard sacremoses
if ! "$VENV/bin/python" -c "import fairseq" 2>/dev/null; then
  # built against the torch above; CUDA_HOME unset: fairseq's optional CUDA kernels are not needed
  env -u CUDA_HOME "$VENV/bin/python" -m pip install -q --no-build-isolation --no-deps \
    ${WHEELS:+--no-index --find-links "$WHEELS"} "fairseq-fixed==0.12.3.1"
fi
"$VENV/bin/python" -c "import faiss" 2>/dev/null || pip faiss-gpu-cu12 2>/dev/null || pip faiss-cpu 2>/dev/null || \
  echo "faiss not installed: nearest-neighbour search runs exactly in torch"
"$VENV/bin/python" -m pip install -q --no-build-isolation --no-deps -e .
"$VENV/bin/python" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device visible'; \
print('GPU:', torch.cuda.get_device_name(0), '| torch', torch.__version__)"
NAME=$(basename "$RECIPE" .yaml)
"$VENV/bin/unmt" run "$RECIPE" --nproc "${NPROC:-1}" --quiet
# throughput: fairseq's words per second and updates, per fairseq stage
for stage in pretrain train; do
  log="runs/$NAME/$stage/train.log"
  [ -f "$log" ] && grep "| INFO | train |" "$log" | tail -1 | sed "s/^/$stage: /" || true
done

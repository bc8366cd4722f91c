#!/usr/bin/env bash
# GPU checks in one command: the gpu-marked tests, then the tier benchmark's GPU rows.
# Budget: under 8 minutes on one GPU machine (N=100k by default; N=... to change it).
#
#   bash benchmarks/gpu_check.sh
#
# Installs faiss-gpu-cu12 in place of faiss-cpu when the installed FAISS sees no GPU
# (this changes the Python environment it runs in: meant for a GPU machine).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
N="${N:-100000}"

gpus() { python -c "import faiss; print(faiss.get_num_gpus() if hasattr(faiss, 'get_num_gpus') else 0)" 2>/dev/null || echo 0; }

if [ "$(gpus)" = "0" ]; then
  if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "gpu_check: no NVIDIA GPU visible (nvidia-smi -L failed); nothing to check" >&2
    exit 1
  fi
  echo "gpu_check: installed FAISS has no GPU support; installing faiss-gpu-cu12 (the gyeol[gpu] extra)"
  python -m pip uninstall -y faiss-cpu >/dev/null 2>&1 || true
  if ! python -m pip install --quiet "faiss-gpu-cu12>=1.8"; then
    echo "gpu_check: could not install faiss-gpu-cu12 (no network? put the wheel in PIP_FIND_LINKS)" >&2
    exit 1
  fi
  if [ "$(gpus)" = "0" ]; then
    echo "gpu_check: faiss-gpu-cu12 is installed but sees no GPU (CUDA 12 driver missing?)" >&2
    exit 1
  fi
fi
echo "gpu_check: FAISS sees $(gpus) GPU(s)"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

start=$(date +%s)
timeout 150 python -m pytest tests/test_gpu.py -m gpu -q -p no:cacheprovider
echo "gpu_check: GPU tests took $(( $(date +%s) - start ))s"

# GPU rows only (the CPU rows are measured on the CPU machine); each row's index_info says where its
# index was trained (trained_on) and serves (device), and the raw FAISS GPU index is timed beside it
timeout 330 python benchmarks/compare_tiers.py --devices gpu --n "$N" --tag gpu --min-seconds 1 --rounds 2
python - <<'PY'
import json
rows = json.load(open("benchmarks/results/compare_tiers_gpu.json"))["rows"]
for r in rows:
    info = r["index_info"]
    print(f"gpu_check: {r['row']}: {info.get('kind')} serves on {info.get('device')}, "
          f"trained on {info.get('trained_on')}, recall@10 {r['recall_at_10']:.3f}")
PY
echo "gpu_check: done in $(( $(date +%s) - start ))s; tables in benchmarks/results/compare_tiers_gpu.md"

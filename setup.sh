#!/usr/bin/env bash
# One-command setup: creates .venv in the project and installs the pinned OpenMMLab pose stack.
#   bash setup.sh            # core stack + test tools
#   WITH_RAY=1 bash setup.sh # also Ray, for EXECUTOR = "ray"
#   WITH_RUNTIMES=1 bash setup.sh  # also ONNX Runtime and OpenVINO, for BACKEND = "onnxruntime" / "openvino"
# Environment knobs:
#   PYTHON=python3.11        interpreter used to create .venv
#   TORCH_INDEX_URL=...      e.g. https://download.pytorch.org/whl/cpu for a CPU-only torch wheel,
#                            or https://download.pytorch.org/whl/cu128 for a specific CUDA build
#   MMCV_FORCE_CUDA=0|1      build mmcv's CUDA ops (default: 1 when nvidia-smi and nvcc are present)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
STEP=""
trap 'echo; echo "setup.sh: FAILED at step: $STEP"; echo "  fix the error above and run \"bash setup.sh\" again (finished steps are skipped)."' ERR

step() { STEP="$1"; echo "==> $1"; }
pip_install() { "$PY" -m pip install --disable-pip-version-check -q "$@"; }
have() { "$PY" - "$@" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version, PackageNotFoundError
for spec in sys.argv[1:]:
    name, want = spec.split("==")
    try:
        got = version(name)
    except PackageNotFoundError:
        sys.exit(1)
    if got.split("+")[0] != want:
        sys.exit(1)
PYEOF
}

step "virtual environment (.venv)"
if [ ! -x "$PY" ]; then
  "${PYTHON:-python3}" -m venv "$VENV"
fi
"$PY" -c 'import sys; assert sys.version_info >= (3, 9), "Python >= 3.9 is required"'

step "build tools (pip, setuptools>=77,<81: mmcv's setup.py imports pkg_resources; wheel, ninja)"
if ! have "setuptools==80.9.0" || ! "$PY" -c 'import wheel, ninja' 2>/dev/null; then
  pip_install --upgrade pip "setuptools==80.9.0" wheel ninja
fi

step "torch 2.13.0"
if ! have "torch==2.13.0"; then
  if [ -n "${TORCH_INDEX_URL:-}" ]; then
    pip_install "torch==2.13.0" --index-url "$TORCH_INDEX_URL"
  else
    pip_install "torch==2.13.0"
  fi
fi
"$PY" -c 'import torch; print("    torch", torch.__version__, "cuda" if torch.cuda.is_available() else "cpu")'

step "pinned runtime dependencies (numpy 1.26.4, opencv-python 4.11.0.86, pandas<3, ...)"
pip_install -r requirements.txt \
  || { echo "    could not install requirements.txt; check network access to the package index"; false; }

step "mmcv 2.1.0 from source with its C++ ops (first time: about 10 minutes; later runs use pip's wheel cache)"
if ! have "mmcv==2.1.0" || ! "$PY" -c 'import mmcv.ops' 2>/dev/null; then
  if [ -z "${MMCV_FORCE_CUDA:-}" ]; then
    if command -v nvidia-smi >/dev/null 2>&1 && command -v nvcc >/dev/null 2>&1; then MMCV_FORCE_CUDA=1; else MMCV_FORCE_CUDA=0; fi
    TORCH_CUDA=$("$PY" -c 'import torch; print(torch.version.cuda or "")' 2>/dev/null || true)
    if [ -n "$TORCH_CUDA" ] && command -v nvidia-smi >/dev/null 2>&1 && ! command -v nvcc >/dev/null 2>&1; then
      NVCC_WHEEL=$([ "${TORCH_CUDA%%.*}" = 12 ] && echo nvidia-cuda-nvcc-cu12 || echo nvidia-cuda-nvcc)
      echo "    NVIDIA GPU but no nvcc: mmcv gets CPU ops only. The stage still runs on the GPU; only the detector's"
      echo "    NMS (the few boxes above BBOX_THR) runs on the CPU, with mmcv's CPU NMS (the same algorithm)."
      echo "    For the CUDA ops: install nvcc for CUDA $TORCH_CUDA (the CUDA toolkit; pip's $NVCC_WHEEL is an untested alternative),"
      echo "    put it on PATH, then: .venv/bin/pip uninstall -y mmcv && .venv/bin/pip cache remove mmcv && MMCV_FORCE_CUDA=1 bash setup.sh"
    fi
  fi
  echo "    CUDA ops: $([ "$MMCV_FORCE_CUDA" = 1 ] && echo yes || echo no)"
  if [ "$MMCV_FORCE_CUDA" = 1 ]; then export FORCE_CUDA=1; fi
  MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
    "$PY" -m pip install --disable-pip-version-check --no-build-isolation --no-deps "mmcv==2.1.0"
fi

step "mmdet 3.3.0, mmpose 1.3.2 (without chumpy: it does not build and is never imported)"
if ! have "mmdet==3.3.0" "mmpose==1.3.2"; then
  pip_install --no-deps "mmdet==3.3.0" "mmpose==1.3.2"
fi

if [ "${WITH_RAY:-0}" = 1 ]; then
  step "ray (optional: EXECUTOR = \"ray\")"
  if ! "$PY" -c 'import ray' 2>/dev/null; then pip_install "ray==2.60.0"; fi
fi

if [ "${WITH_RUNTIMES:-0}" = 1 ]; then
  step "onnxruntime 1.31.1, openvino 2026.4.1, onnx 1.23.2 (optional: BACKEND = \"onnxruntime\" / \"openvino\"; numpy stays 1.26.4)"
  if ! have "onnxruntime==1.31.1" "openvino==2026.4.1" "onnx==1.23.2"; then
    # numpy named too: the runtimes would otherwise upgrade it to numpy 2, which xtcocotools' wheel cannot use
    pip_install "onnxruntime==1.31.1" "openvino==2026.4.1" "onnx==1.23.2" "numpy==1.26.4"
  fi
fi

step "torchvision: a stand-in with the one class mmpose imports, unless a real one imports"
if ! "$PY" -c 'import torchvision' 2>/dev/null; then
  SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  mkdir -p "$SITE/torchvision"
  cp signpose/torchvision_shim.py "$SITE/torchvision/__init__.py"
fi

step "check the stack"
"$PY" -m pip check 2>/dev/null | grep -v -e chumpy -e torchvision || true
"$PY" - <<'PYEOF'
import mmcv, mmdet, mmengine, mmpose, torch, cv2, numpy
from mmcv.ops import nms  # the compiled ops
import mmdet.apis, mmpose.apis  # noqa: F401
print(f"    mmcv {mmcv.__version__}  mmdet {mmdet.__version__}  mmpose {mmpose.__version__}  "
      f"mmengine {mmengine.__version__}  torch {torch.__version__}  numpy {numpy.__version__}  cv2 {cv2.__version__}")
PYEOF
STEP="done"
echo "==> ready: activate with 'source .venv/bin/activate'"

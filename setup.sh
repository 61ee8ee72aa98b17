#!/usr/bin/env bash
# One-command setup: creates .venv in the project and installs the pinned OpenMMLab pose stack from
# wheels. mmcv comes as mmcv-lite (no compiled ops): the stage's one compiled op, NMS, is the
# project's (signpose/install/mmcv_ext.py). Nothing is compiled but xtcocotools (seconds).
# Supported Pythons: 3.11, 3.12, 3.13 (PyAV 18.1.0 starts at 3.11; numpy 1.26.4 stops at 3.12).
#   bash setup.sh            # core stack + test tools, numpy 2
#   NUMPY=1 bash setup.sh    # the same with numpy 1.26.4 (Python 3.11 and 3.12)
#   WITH_RAY=1 bash setup.sh # also Ray, for EXECUTOR = "ray"
#   WITH_RUNTIMES=1 bash setup.sh  # also ONNX Runtime and OpenVINO, for BACKEND = "onnxruntime" / "openvino"
#   MMCV_OPS=1 bash setup.sh # mmcv 2.1.0 built from source with all of its compiled ops (10-30 min),
#                            # for a detector that needs more than NMS (RoIAlign, DeformConv, ...)
#   DRY_RUN=1 bash setup.sh  # print what each step would do on this machine; change nothing
# Environment knobs:
#   PYTHON=python3.12        interpreter used to create the venv
#   VENV=.venv-numpy1        where the venv goes (default .venv)
#   TORCH_INDEX_URL=...      e.g. https://download.pytorch.org/whl/cpu for a CPU-only torch wheel,
#                            or https://download.pytorch.org/whl/cu128 for a specific CUDA build
#   CPU_TORCH=1              keep a CPU build of torch on a machine with an NVIDIA GPU
#   MMCV_FORCE_CUDA=0|1      with MMCV_OPS=1: build mmcv's CUDA ops (default: 1 when nvidia-smi, nvcc and a CUDA
#                            torch are present); mmcv's own FORCE_CUDA is read the same way
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV=$(realpath -m "${VENV:-$ROOT/.venv}")
PY="$VENV/bin/python"
DRY_RUN=${DRY_RUN:-0}
NUMPY=${NUMPY:-2}
MMCV_OPS=${MMCV_OPS:-0}
TORCH_VERSION=2.13.0  # installed where there is no torch
# a torch already in the venv is kept within this range (the torch APIs the project calls; the
# suite runs on 2.13.0, the GPU kit on the GPU machine's own torch)
TORCH_OLDEST=2.9
TORCH_NEWEST=2.13
NUMPY1_VERSION=1.26.4  # NUMPY=1
NUMPY2_VERSION=2.4.6   # NUMPY=2: the newest numpy 2 with wheels for Python 3.11 to 3.13
CUDA_DEFAULT_HOME=${CUDA_DEFAULT_HOME:-/usr/local/cuda}  # where CUDA toolkits install themselves (tests move it)
STEP=""
trap 'echo; echo "setup.sh: FAILED at step: $STEP"; echo "  fix the error above and run \"bash setup.sh\" again (finished steps are skipped)."' ERR

step() { STEP="$1"; echo "==> $1"; }
# a deliberate stop: one line, no "FAILED at step" trailer
die() { trap - ERR; echo "setup.sh: $*" >&2; exit 1; }
# every command that changes the machine goes through act, so DRY_RUN=1 only prints it
act() { if [ "$DRY_RUN" = 1 ]; then echo "    (dry run) would run: $*"; else "$@"; fi; }
pip_install() { act "$PY" -m pip install --disable-pip-version-check -q "$@"; }
have() { [ -x "$PY" ] && "$PY" - "$@" <<'PYEOF' 2>/dev/null
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

case "$MMCV_OPS" in 0|1) ;; *) die "MMCV_OPS=$MMCV_OPS is not a choice: 0 (mmcv-lite, the default) or 1 (mmcv's compiled ops, built here)" ;; esac
case "$NUMPY" in
  1) NUMPY_VERSION=$NUMPY1_VERSION ;;
  2) NUMPY_VERSION=$NUMPY2_VERSION ;;
  *) die "NUMPY=$NUMPY is not a choice: use NUMPY=2 (numpy $NUMPY2_VERSION, the default) or NUMPY=1 (numpy $NUMPY1_VERSION)" ;;
esac

# An NVIDIA GPU: nvidia-smi is there and lists one
GPU=""
if command -v nvidia-smi >/dev/null 2>&1; then GPU=$(nvidia-smi -L 2>/dev/null | head -n 1 | sed 's/ (UUID.*//' || true); fi

step "virtual environment ($VENV)"
if [ ! -x "$PY" ]; then
  command -v "${PYTHON:-python3}" >/dev/null 2>&1 \
    || die "PYTHON=${PYTHON:-python3} is not on PATH: install Python 3.11, 3.12 or 3.13, or name one with PYTHON=python3.12"
  BASE_PY=${PYTHON:-python3}
else
  BASE_PY=$PY
  if [ -n "${PYTHON:-}" ]; then
    want=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) \
      || die "PYTHON=$PYTHON does not run: name an installed interpreter"
    got=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    [ "$want" = "$got" ] || die "$VENV holds Python $got, not PYTHON=$PYTHON ($want): remove it, or give the new one its own folder with VENV=.venv-$want"
  fi
fi
PY_VERSION=$("$BASE_PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
case "$PY_VERSION" in
  3.11|3.12|3.13) echo "    Python $PY_VERSION (supported: 3.11, 3.12, 3.13)" ;;
  *) die "Python $PY_VERSION is not supported (3.11, 3.12 or 3.13): pick one with PYTHON=python3.12 (and remove $VENV if it was made with $PY_VERSION)" ;;
esac
if [ "$NUMPY" = 1 ] && [ "$PY_VERSION" = 3.13 ]; then
  die "numpy $NUMPY1_VERSION has no wheel for Python 3.13: use NUMPY=2 (the default), or Python 3.11/3.12 with PYTHON=python3.12"
fi
[ -x "$PY" ] || act "$BASE_PY" -m venv "$VENV"

step "build tools (pip, setuptools<81: mmengine imports pkg_resources; wheel, cython for xtcocotools$([ "$MMCV_OPS" = 1 ] && echo "; ninja for mmcv"))"
if ! have "setuptools==80.9.0" || ! "$PY" -c 'import wheel, Cython' 2>/dev/null; then
  pip_install --upgrade pip "setuptools==80.9.0" wheel "cython>=3,<4"
fi
if [ "$MMCV_OPS" = 1 ] && ! "$PY" -c 'import ninja' 2>/dev/null; then pip_install ninja; fi

# torch_info: "version cuda-version-or-empty cuda-available(0|1)", or nothing without torch
torch_info() { "$PY" -c 'import torch; print(torch.__version__, torch.version.cuda or "-", int(torch.cuda.is_available()))' 2>/dev/null || true; }
install_torch() {
  if [ -n "${TORCH_INDEX_URL:-}" ]; then pip_install "torch==$TORCH_VERSION" --index-url "$TORCH_INDEX_URL"
  else pip_install "torch==$TORCH_VERSION"; fi
}
# torch_supported VERSION: within TORCH_OLDEST..TORCH_NEWEST (major.minor; local tags ignored)
torch_supported() {
  "$PY" - "$1" "$TORCH_OLDEST" "$TORCH_NEWEST" <<'PYEOF'
import sys
minor = lambda v: tuple(int(p) for p in v.split('+')[0].split('.')[:2])
sys.exit(not minor(sys.argv[2]) <= minor(sys.argv[1]) <= minor(sys.argv[3]))
PYEOF
}
cpu_torch_line() {
  echo "torch $1 is a CPU build, but this machine has an NVIDIA GPU ($GPU): install a CUDA build with TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 bash setup.sh (the index for your driver's CUDA), or keep the CPU build with CPU_TORCH=1 bash setup.sh"
}

step "torch (kept if $TORCH_OLDEST to $TORCH_NEWEST is installed, else $TORCH_VERSION)"
TORCH_HAD=$(torch_info | cut -d' ' -f1)
if [ -z "$TORCH_HAD" ]; then
  install_torch
else
  torch_supported "$TORCH_HAD" \
    || die "torch $TORCH_HAD is in $VENV, and the stack is supported with torch $TORCH_OLDEST to $TORCH_NEWEST: install one (pip install torch==$TORCH_VERSION) or remove it ($VENV/bin/pip uninstall -y torch) and run bash setup.sh again"
  if [ -n "$GPU" ] && [ "${CPU_TORCH:-0}" != 1 ]; then
    read -r TV TC _ <<<"$(torch_info)"
    if [ "$TC" = "-" ]; then
      echo "    torch $TV is a CPU build and this machine has an NVIDIA GPU: reinstalling torch $TORCH_VERSION from ${TORCH_INDEX_URL:-PyPI (its Linux wheels are CUDA builds)}"
      act "$PY" -m pip uninstall --disable-pip-version-check -q -y torch
      install_torch
    fi
  fi
fi
if [ "$DRY_RUN" = 1 ] && [ -z "$(torch_info)" ]; then
  echo "    (dry run) torch is not installed yet: the steps below assume a fresh torch $TORCH_VERSION"
else
  read -r TV TC TA <<<"$(torch_info)"
  [ -n "${TV:-}" ] || die "torch does not import in $VENV: run $PY -c 'import torch' to see why, then bash setup.sh again"
  echo "    torch $TV, $([ "$TC" = "-" ] && echo "CPU build" || echo "CUDA $TC build"), $([ "$TA" = 1 ] && echo "GPU usable" || echo "no usable GPU")"
  if [ -n "$GPU" ] && [ "$TC" = "-" ] && [ "${CPU_TORCH:-0}" != 1 ]; then
    [ "$DRY_RUN" = 1 ] || die "$(cpu_torch_line "$TV")"
    echo "    (dry run) the steps below decide for this CPU torch; after the reinstall they would see a CUDA build"
  fi
  if [ -n "$GPU" ] && [ "$TC" != "-" ] && [ "$TA" != 1 ]; then
    echo "    warning: torch's CUDA $TC build cannot use the GPU here (driver older than CUDA $TC?); the stage would run on the CPU: pick the build for your driver with TORCH_INDEX_URL"
  fi
fi

numpy_now() { "$PY" -c 'import numpy; print(numpy.__version__)' 2>/dev/null || true; }
NUMPY_BEFORE=$(numpy_now)
step "pinned runtime dependencies (numpy $NUMPY_VERSION, opencv-python 4.11.0.86, pandas<3, pose-format 0.15.0, ...)"
if [ "$DRY_RUN" = 1 ]; then
  pip_install -r requirements.txt "numpy==$NUMPY_VERSION"
else
  pip_install -r requirements.txt "numpy==$NUMPY_VERSION" \
    || { echo "    could not install requirements.txt; check network access to the package index"; false; }
fi

step "xtcocotools 1.14.3, built here against numpy $NUMPY_VERSION (its wheels are built against numpy 1 and stop at Python 3.11)"
# rebuilt when numpy changed: built against one numpy, it may import under another and still fail
if ! have "xtcocotools==1.14.3" || ! "$PY" -c 'import xtcocotools.mask' 2>/dev/null || [ "$(numpy_now)" != "$NUMPY_BEFORE" ]; then
  # --no-cache-dir: pip's wheel cache does not tell numpys apart, and a wheel built against numpy 1
  # fails to import under numpy 2 ("numpy.dtype size changed")
  pip_install --no-build-isolation --no-binary xtcocotools --no-cache-dir --no-deps --force-reinstall "xtcocotools==1.14.3"
fi

# Where nvcc is: PATH, then $CUDA_HOME/bin, then the default toolkit folder; prints "path<TAB>where"
find_nvcc() {
  if command -v nvcc >/dev/null 2>&1; then printf '%s\ton PATH\n' "$(command -v nvcc)"; return; fi
  if [ -n "${CUDA_HOME:-}" ] && [ -x "$CUDA_HOME/bin/nvcc" ]; then printf '%s\tin $CUDA_HOME/bin\n' "$CUDA_HOME/bin/nvcc"; return; fi
  if [ -x "$CUDA_DEFAULT_HOME/bin/nvcc" ]; then printf '%s\tin %s/bin\n' "$CUDA_DEFAULT_HOME/bin/nvcc" "$CUDA_DEFAULT_HOME"; fi
}
# The environment mmcv's build runs in. mmcv 2.1.0's setup.py compiles CUDA ops whenever
# torch.cuda.is_available() or FORCE_CUDA=1, so without CUDA ops the GPU is hidden from it.
in_build_env() {
  if [ "$MMCV_FORCE_CUDA" = 1 ]; then
    env FORCE_CUDA=1 CUDA_HOME="$NVCC_HOME" PATH="$NVCC_HOME/bin:$PATH" MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" "$@"
  else
    env -u FORCE_CUDA CUDA_VISIBLE_DEVICES= MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" "$@"
  fi
}

# mmcv_compiled: mmcv 2.1.0 with its compiled ops imports here (then it is used as it is)
mmcv_compiled() { have "mmcv==2.1.0" && "$PY" -c 'import mmcv._ext' 2>/dev/null; }
if [ "$MMCV_OPS" != 1 ]; then
step "mmcv-lite 2.1.0 (a wheel: mmcv without compiled ops; the stage's NMS is the project's)"
if mmcv_compiled; then
  echo "    mmcv 2.1.0 with its compiled ops is installed: kept, and used as it is"
elif ! have "mmcv-lite==2.1.0"; then
  pip_install --no-deps "mmcv-lite==2.1.0"
fi
else
step "mmcv 2.1.0 from source with its C++ ops (MMCV_OPS=1; first time: 10-30 minutes; later runs use pip's wheel cache)"
if ! mmcv_compiled; then
  # mmcv-lite and mmcv are one package: the lite one makes way
  if have "mmcv-lite==2.1.0"; then act "$PY" -m pip uninstall --disable-pip-version-check -q -y mmcv-lite; fi
  MMCV_FORCE_CUDA=${MMCV_FORCE_CUDA:-${FORCE_CUDA:-}}
  IFS=$'\t' read -r NVCC NVCC_WHERE <<<"$(find_nvcc)" || true
  TORCH_CUDA=$("$PY" -c 'import torch; print(torch.version.cuda or "")' 2>/dev/null || true)
  if [ -z "$MMCV_FORCE_CUDA" ]; then
    if [ -n "$GPU" ] && [ -n "${NVCC:-}" ] && [ -n "$TORCH_CUDA" ]; then MMCV_FORCE_CUDA=1; else MMCV_FORCE_CUDA=0; fi
    if [ -n "$TORCH_CUDA" ] && [ -n "$GPU" ] && [ -z "${NVCC:-}" ]; then
      # mmcv's compiled NMS would have no CUDA kernel, and the stage's detector runs on the GPU
      NVCC_WHEEL=$([ "${TORCH_CUDA%%.*}" = 12 ] && echo nvidia-cuda-nvcc-cu12 || echo nvidia-cuda-nvcc)
      die "MMCV_OPS=1 on this NVIDIA GPU machine needs nvcc for mmcv's CUDA ops (not on PATH, nor in \$CUDA_HOME/bin or $CUDA_DEFAULT_HOME/bin): install nvcc for CUDA $TORCH_CUDA (the CUDA toolkit; pip's $NVCC_WHEEL is an untested alternative) and put it on PATH; or use the default install (bash setup.sh: mmcv-lite, whose NMS runs on the GPU); or MMCV_FORCE_CUDA=0 for CPU ops only (the stage then runs on the CPU)"
    fi
  fi
  case "$MMCV_FORCE_CUDA" in 0|1) ;; *) die "MMCV_FORCE_CUDA (or FORCE_CUDA) must be 0 or 1, not '$MMCV_FORCE_CUDA'" ;; esac
  if [ "$MMCV_FORCE_CUDA" = 1 ]; then
    [ -n "${NVCC:-}" ] || die "MMCV_FORCE_CUDA=1 but no nvcc on PATH, in \$CUDA_HOME/bin or in $CUDA_DEFAULT_HOME/bin: install the CUDA toolkit (nvcc) for CUDA ${TORCH_CUDA:-?}, or build without CUDA ops with MMCV_FORCE_CUDA=0"
    [ -n "$TORCH_CUDA" ] || die "MMCV_FORCE_CUDA=1 but torch is a CPU build: install a CUDA torch (TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128), or build without CUDA ops with MMCV_FORCE_CUDA=0"
    NVCC_REAL=$(readlink -f "$NVCC")
    NVCC_HOME=$(dirname "$(dirname "$NVCC_REAL")")  # torch's build looks for $CUDA_HOME/bin/nvcc
    NVCC_VERSION=$("$NVCC" --version 2>/dev/null | sed -n 's/.*release \([0-9][0-9.]*\).*/\1/p' | head -n 1)
    echo "    nvcc: $NVCC (found $NVCC_WHERE$([ "$NVCC_REAL" != "$NVCC" ] && echo ", which is $NVCC_REAL"); CUDA ${NVCC_VERSION:-unknown}; torch is built with CUDA $TORCH_CUDA)"
    [ "${NVCC_VERSION%%.*}" = "${TORCH_CUDA%%.*}" ] \
      || die "nvcc $NVCC is CUDA ${NVCC_VERSION:-unknown} but torch is built with CUDA $TORCH_CUDA and their major versions must match: put nvcc for CUDA ${TORCH_CUDA%%.*} first on PATH, or build without CUDA ops with MMCV_FORCE_CUDA=0"
  fi
  # what mmcv's setup.py will decide, asked in the very environment the build gets
  if [ "$DRY_RUN" = 1 ] && ! "$PY" -c 'import torch' 2>/dev/null; then
    SEES="(torch not installed yet) -> $([ "$MMCV_FORCE_CUDA" = 1 ] && echo "CUDA and CPU" || echo CPU) ops"
  else
  SEES=$(in_build_env "$PY" - 2>/dev/null <<'PYEOF'
import os, torch
gpu = torch.cuda.is_available()
env = {k: os.environ.get(k, 'unset') for k in ('FORCE_CUDA', 'CUDA_VISIBLE_DEVICES', 'CUDA_HOME', 'MAX_JOBS')}
ops = 'CUDA and CPU' if gpu or env['FORCE_CUDA'] == '1' else 'CPU'
print(f"torch.cuda.is_available()={gpu} " + ' '.join(f'{k}={v!r}' for k, v in env.items()) + f" -> {ops} ops")
PYEOF
  ) \
    || die "torch does not import in $VENV: run $PY -c 'import torch' to see why"
  fi
  echo "    CUDA ops: $([ "$MMCV_FORCE_CUDA" = 1 ] && echo yes || echo no)"
  echo "    the build sees: $SEES"
  case "$MMCV_FORCE_CUDA:$SEES" in
    "1:"*"-> CUDA and CPU ops"|"0:"*"-> CPU ops") ;;
    *) die "mmcv's build would not compile what was announced ($SEES): report this with the lines above" ;;
  esac
  # a CUDA build skips pip's wheel cache: it must not pick up a CPU-only wheel built earlier, nor
  # leave a CUDA wheel there for a CPU-only build to take
  act in_build_env "$PY" -m pip install --disable-pip-version-check --no-build-isolation --no-deps \
    $([ "$MMCV_FORCE_CUDA" = 1 ] && echo --no-cache-dir) "mmcv==2.1.0"
  if [ "$MMCV_FORCE_CUDA" = 1 ] && [ "$DRY_RUN" != 1 ]; then
    "$PY" -c 'import sys; from mmcv.ops import get_compiling_cuda_version as v; sys.exit(v() == "not available")' \
      || die "mmcv installed without CUDA ops although they were asked for: $VENV/bin/pip uninstall -y mmcv && $VENV/bin/pip cache remove mmcv && MMCV_OPS=1 MMCV_FORCE_CUDA=1 bash setup.sh"
  fi
fi
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
  step "onnxruntime 1.31.1, openvino 2026.4.1, onnx 1.23.2 (optional: BACKEND = \"onnxruntime\" / \"openvino\"; numpy stays $NUMPY_VERSION)"
  if ! have "onnxruntime==1.31.1" "openvino==2026.4.1" "onnx==1.23.2"; then
    # numpy named too: pip would otherwise move it to the runtimes' newest numpy
    pip_install "onnxruntime==1.31.1" "openvino==2026.4.1" "onnx==1.23.2" "numpy==$NUMPY_VERSION"
  fi
fi

step "torchvision: a stand-in with the one class mmpose imports, unless a real one imports"
if ! "$PY" -c 'import torchvision' 2>/dev/null; then
  SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null || echo "$VENV/lib/site-packages")
  act mkdir -p "$SITE/torchvision"
  act cp scripts/torchvision_stub.py "$SITE/torchvision/__init__.py"
fi

step "signpose: this project as a package (editable: the checkout is the code), with its console commands"
# --no-deps: everything it needs is installed above, pinned; no build isolation: offline-safe
pip_install --no-deps --no-build-isolation -e "$ROOT"

step "start-up hook: mmdet and mmpose import in this venv without importing signpose first (signpose_mmcv_ext.pth)"
# a .pth in site-packages whose one import line appends a finder to sys.meta_path: at the first import
# of mmcv._ext that nothing else answers (mmcv-lite), it imports signpose, whose finder answers it;
# a compiled mmcv's own _ext is found first. Nothing is imported at start-up (about 0.5 ms).
SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null || echo "$VENV/lib/python$PY_VERSION/site-packages")
if cmp -s scripts/signpose_mmcv_ext.pth "$SITE/signpose_mmcv_ext.pth"; then
  echo "    $SITE/signpose_mmcv_ext.pth is up to date"
else
  act mkdir -p "$SITE"
  act cp scripts/signpose_mmcv_ext.pth "$SITE/signpose_mmcv_ext.pth"
fi

if [ "$DRY_RUN" = 1 ]; then
  STEP="done"
  echo "==> dry run: nothing was changed"
  exit 0
fi

step "check the stack"
"$PY" -m pip check 2>/dev/null | grep -v -e chumpy -e torchvision || true
"$PY" - "$NUMPY_VERSION" <<'PYEOF'
import sys
# first, before signpose: the start-up hook (signpose_mmcv_ext.pth) provides mmcv._ext under mmcv-lite
try:
    import mmdet.apis, mmpose.apis  # noqa: F401
except ModuleNotFoundError as err:
    if err.name != 'mmcv._ext':
        raise
    sys.exit("setup.sh: mmdet does not import without signpose (No module named 'mmcv._ext'): the start-up hook "
             "signpose_mmcv_ext.pth is not in site-packages, or signpose does not import; run bash setup.sh again")
import signpose.run.stage  # noqa: F401  (the project, installed)
import mmcv, mmdet, mmengine, mmpose, torch, cv2, numpy
from mmcv.ops import nms  # the project's (mmcv-lite) or mmcv's compiled one (MMCV_OPS=1)
from signpose.install.mmcv_lite import is_lite
import xtcocotools.mask  # noqa: F401  (built against this numpy)
import pose_format.pose_visualizer  # noqa: F401  (.pose files)
print(f"    mmcv {mmcv.__version__} ({'lite: the project NMS' if is_lite() else 'compiled ops'})  mmdet {mmdet.__version__}  mmpose {mmpose.__version__}  "
      f"mmengine {mmengine.__version__}  torch {torch.__version__}  numpy {numpy.__version__}  cv2 {cv2.__version__}")
if numpy.__version__ != sys.argv[1]:
    sys.exit(f"setup.sh: numpy is {numpy.__version__}, not {sys.argv[1]}: a package moved it; run bash setup.sh again")
PYEOF
STEP="done"
echo "==> ready: activate with 'source ${VENV#$ROOT/}/bin/activate'"

#!/usr/bin/env bash
# The stack for a bare, offline GPU machine that already has Python, torch, numpy, OpenCV (headless),
# cython, pandas, scipy, matplotlib, tqdm, pillow, pyyaml, rich and pytest, in two halves:
#   bash scripts/gpu_kit.sh prepare   # here, with PyPI: wheels and one source into .gpu_kit/ (git-ignored)
#   bash scripts/gpu_kit.sh run       # there, offline: install the wheels into a temporary folder (mmcv-lite:
#                                     # nothing to compile; the machine's own torch), build xtcocotools (seconds),
#                                     # run tests/test_gpu.py and the GPU report
# prepare knobs: KIT_PYTHON_VERSION=3.12 (the machine's Python), KIT_DIR=.gpu_kit, PYTHON=.venv/bin/python
#   (a Python with setuptools<81, numpy and cython: pip reads xtcocotools' metadata by running its setup.py)
# run knobs: KIT_DIR, PYTHON=python3 (the one that holds torch), KIT_SITE (default: a new folder in /tmp),
#   KIT_TESTS="tests/test_gpu.py", KIT_BENCH="--device cuda:0" (arguments of scripts/benchmark_3b.py, or "")
set -uo pipefail
cd "$(dirname "$0")/.."
KIT_DIR=${KIT_DIR:-.gpu_kit}
LIMIT_MIB=60

# What the GPU machine lacks, pinned: the OpenMMLab stack (mmcv as mmcv-lite, a pure-Python wheel:
# the stage's NMS is the project's, on the GPU), PyAV, and the small dependencies of
# mmengine/mmdet/mmpose that are not in its image. setuptools 80.9.0: mmengine imports pkg_resources,
# which setuptools 81 drops. Binary wheels for the target Python, plus one source (xtcocotools).
WHEELS=(mmcv-lite==2.1.0 mmengine==0.10.7 mmdet==3.3.0 mmpose==1.3.2 av==18.1.0 setuptools==80.9.0
        addict==2.4.0 yapf==0.43.0 platformdirs==4.14.9 termcolor==3.3.0 terminaltables==3.1.10
        json_tricks==3.17.3 munkres==3.0.0 shapely==2.2.0 pycocotools==2.0.11)
SOURCES=(xtcocotools==1.14.3)

die() { echo "gpu_kit.sh: $*" >&2; exit 1; }

prepare() {
  local py=${PYTHON:-.venv/bin/python} version=${KIT_PYTHON_VERSION:-3.12}
  [ -x "$py" ] || command -v "$py" >/dev/null 2>&1 || die "no Python at $py to download with: run bash setup.sh first, or name one with PYTHON="
  "$py" -c 'import setuptools, numpy, Cython, pkg_resources' 2>/dev/null \
    || die "$py lacks setuptools<81, numpy or cython (pip runs the sources' setup.py to read them): use the project's venv (bash setup.sh)"
  mkdir -p "$KIT_DIR"
  rm -f "$KIT_DIR"/*.whl "$KIT_DIR"/*.tar.gz
  echo "==> wheels for CPython $version, manylinux x86_64 -> $KIT_DIR"
  "$py" -m pip download --disable-pip-version-check -q --no-deps --only-binary=:all: \
    --python-version "$version" --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 -d "$KIT_DIR" "${WHEELS[@]}" || die "pip could not fetch the wheels above (network to PyPI?)"
  echo "==> sources: ${SOURCES[*]}"
  # --no-build-isolation: xtcocotools' setup.py needs numpy and cython to be read
  "$py" -m pip download --disable-pip-version-check -q --no-deps --no-binary=:all: --no-build-isolation \
    -d "$KIT_DIR" "${SOURCES[@]}" || die "pip could not fetch the sources above (network to PyPI?)"
  local bytes
  bytes=$(du -cb "$KIT_DIR"/* | tail -n 1 | cut -f 1)
  ls -l "$KIT_DIR"
  echo "==> $KIT_DIR: $(ls "$KIT_DIR" | wc -l) files, $((bytes / 1048576)) MiB"
  [ "$bytes" -le $((LIMIT_MIB * 1048576)) ] || die "the kit is $((bytes / 1048576)) MiB, over its $LIMIT_MIB MiB"
}

# ---------------------------------------------------------------- run
REPORT=()
STOPPED=""
now() { date +%s%N; }
# seconds since a now() reading, to a tenth
since() { local ms=$((($(now) - $1) / 1000000)); printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100)); }
# timed NAME CMD...: runs CMD, its output to the log and the screen, and records NAME, seconds, result
timed() {
  local name=$1 start rc
  shift
  echo "==> $name" | tee -a "$LOG"
  start=$(now)
  "$@" 2>&1 | tee -a "$LOG"
  rc=${PIPESTATUS[0]}
  REPORT+=("$(printf '%-48s %7s s  %s' "$name" "$(since "$start")" "$([ "$rc" = 0 ] && echo ok || echo "FAILED (exit $rc)")")")
  return "$rc"
}

install_wheels() {
  "$PY" -m pip install --disable-pip-version-check -q --no-index --no-deps --no-compile --no-cache-dir \
    --target "$SITE" "$KIT_DIR"/*.whl
}
build_xtcocotools() {
  # against the machine's numpy (its wheels are built against numpy 1)
  "$PY" -m pip install --disable-pip-version-check -q --no-index --no-deps --no-build-isolation --no-cache-dir \
    --target "$SITE" "$KIT_DIR"/xtcocotools-1.14.3.tar.gz
}
torchvision_stand_in() {
  # mmpose imports torchvision for one class; an image without it gets setup.sh's stand-in
  "$PY" -c 'import torchvision' 2>/dev/null && { echo "    the image's torchvision imports: kept"; return; }
  mkdir -p "$SITE/torchvision" && cp scripts/torchvision_stub.py "$SITE/torchvision/__init__.py"
}
check_stack() {
  "$PY" - <<'PYEOF'
import signpose  # noqa: F401  (first: mmcv-lite's NMS is the project's)
import cv2, numpy, torch, mmcv, mmdet, mmengine, mmpose, av, xtcocotools.mask  # noqa: F401
from mmcv.ops import nms
import mmdet.apis, mmpose.apis  # noqa: F401
from signpose.install.mmcv_lite import is_lite
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU visible'
print(f'    python {".".join(map(str, __import__("sys").version_info[:3]))}  torch {torch.__version__} ({gpu})  '
      f'numpy {numpy.__version__}  cv2 {cv2.__version__}  av {av.__version__}')
print(f'    mmcv {mmcv.__version__} ({"lite: the project NMS, on the tensors device" if is_lite() else "compiled ops"})  mmdet {mmdet.__version__}  '
      f'mmpose {mmpose.__version__}  mmengine {mmengine.__version__}')
PYEOF
}

run() {
  PY=${PYTHON:-python3}
  command -v "$PY" >/dev/null 2>&1 || die "no Python named $PY: name the one that holds torch with PYTHON="
  "$PY" -c 'import torch' 2>/dev/null || die "$PY has no torch: name the one that holds torch with PYTHON="
  for source in mmcv_lite-2.1.0-py2.py3-none-any.whl xtcocotools-1.14.3.tar.gz; do
    [ -f "$KIT_DIR/$source" ] || die "$KIT_DIR/$source is missing: run 'bash scripts/gpu_kit.sh prepare' where PyPI is reachable and carry $KIT_DIR"
  done
  local base=${KIT_SITE:-$(mktemp -d /tmp/gpu_kit.XXXXXX)}
  SITE="$base/site"
  LOG="$base/kit.log"
  mkdir -p "$SITE"
  : >"$LOG"
  # the kit's packages come first; the machine's own (torch, numpy, OpenCV) stay as they are
  # and the project itself (this checkout) is imported from where it lies
  export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
  local begin
  begin=$(now)
  timed "install the kit's wheels" install_wheels \
    && timed "build xtcocotools 1.14.3 (numpy $("$PY" -c 'import numpy; print(numpy.__version__)'))" build_xtcocotools \
    && timed "torchvision (the image's, or the stand-in)" torchvision_stand_in \
    && timed "check the stack" check_stack \
    || STOPPED="a step above failed: the rest was not run"
  if [ -z "$STOPPED" ]; then
    local tests=() t
    for t in ${KIT_TESTS-tests/test_gpu.py}; do
      if [ -f "$t" ]; then tests+=("$t"); else REPORT+=("$(printf '%-48s %9s  %s' "pytest $t" "-" "skipped: not in this checkout")"); fi
    done
    [ "${#tests[@]}" = 0 ] || timed "pytest ${tests[*]}" "$PY" -m pytest -q -p no:cacheprovider "${tests[@]}"
    local bench=${KIT_BENCH---device cuda:0}
    [ -z "$bench" ] || timed "benchmark_3b.py $bench" "$PY" scripts/benchmark_3b.py $bench
  fi
  echo
  echo "==================== GPU kit report ===================="
  echo "machine: $(nproc) cores, $(command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | head -n 1 | sed 's/ (UUID.*//' || echo 'no nvidia-smi')"
  grep -E '^    (python|mmcv) ' "$LOG" || true
  printf '%s\n' "${REPORT[@]}"
  printf '%-48s %7s s\n' "in all" "$(since "$begin")"
  grep -E '^(FAILED|ERROR) |(passed|failed|error|skipped).* in [0-9.]+s' "$LOG" | tail -n 20 || true
  sed -n '/^==> benchmark_3b.py/,$p' "$LOG"
  [ -z "$STOPPED" ] || echo "$STOPPED"
  echo "log: $LOG; packages: $SITE"
  [ -z "$STOPPED" ] && ! printf '%s\n' "${REPORT[@]}" | grep -q FAILED
}

case "${1:-}" in
  prepare) prepare ;;
  run) run ;;
  *) die "say what to do: 'bash scripts/gpu_kit.sh prepare' (here, with PyPI) or 'bash scripts/gpu_kit.sh run' (on the GPU machine)" ;;
esac

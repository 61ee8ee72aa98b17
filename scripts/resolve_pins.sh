#!/usr/bin/env bash
# Does setup.sh's working set have wheels for each supported Python? Asks pip's resolver (a dry run,
# downloading metadata only), so it needs PyPI but not the Pythons themselves.
#   bash scripts/resolve_pins.sh            # Python 3.11, 3.12, 3.13, with each numpy setup.sh offers there
# xtcocotools is built from source by setup.sh (and mmcv with MMCV_OPS=1): only their sources are looked for.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
pin() { sed -n "s/^$1=\([^ ]*\).*/\1/p" setup.sh; }
NUMPY1=$(pin NUMPY1_VERSION)
NUMPY2=$(pin NUMPY2_VERSION)
# the optional extras and the build tools, as setup.sh installs them
EXTRAS=(ray==2.60.0 onnxruntime==1.31.1 openvino==2026.4.1 onnx==1.23.2 setuptools==80.9.0 wheel "cython>=3,<4")
TORCH=torch==$(pin TORCH_VERSION)
TARGET=$(mktemp -d)
trap 'rm -rf "$TARGET"' EXIT
failed=0
# glibc 2.28 and older, x86_64: pip matches each tag exactly, so all are named
PLATFORMS=()
for glibc in $(seq 28 -1 5); do PLATFORMS+=(--platform "manylinux_2_${glibc}_x86_64"); done
PLATFORMS+=(--platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64)
resolve() {  # resolve LABEL PIP-ARGS...: one line per check
  local out
  if out=$("$PY" -m pip install --disable-pip-version-check -q --dry-run --ignore-installed --only-binary=:all: \
             --implementation cp "${PLATFORMS[@]}" --target "$TARGET" "$@" 2>&1); then
    echo "ok      $LABEL"
  else
    echo "FAILED  $LABEL: $(echo "$out" | grep -v 'is ignored' | grep -m 1 ERROR)"
    failed=1
  fi
}
for version in 3.11 3.12 3.13; do
  numpys=("$NUMPY2")
  [ "$version" = 3.13 ] || numpys+=("$NUMPY1")  # numpy 1.26.4 has no wheel for 3.13 (setup.sh refuses NUMPY=1 there)
  for numpy in "${numpys[@]}"; do
    LABEL="Python $version, numpy $numpy: requirements.txt and the extras"
    resolve --python-version "$version" "$TORCH" -r requirements.txt "numpy==$numpy" "${EXTRAS[@]}"
  done
  LABEL="Python $version: mmcv-lite 2.1.0, mmdet 3.3.0, mmpose 1.3.2 (--no-deps, as setup.sh installs them)"
  resolve --python-version "$version" --no-deps mmcv-lite==2.1.0 mmdet==3.3.0 mmpose==1.3.2
done
for source in mmcv==2.1.0 xtcocotools==1.14.3; do
  name=${source%%==*}
  page=$(curl -fsS "https://pypi.org/simple/$name/" 2>&1)
  if grep -q "$name-${source##*==}.tar.gz" <<<"$page"; then
    echo "ok      $source: its source is on PyPI (setup.sh builds it$([ "$name" = mmcv ] && echo ' with MMCV_OPS=1'))"
  else
    echo "FAILED  $source: no source on PyPI"; failed=1
  fi
done
exit $failed

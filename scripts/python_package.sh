#!/usr/bin/env bash
# Builds and installs the Python package (`pip install .`, maturin + PyO3) into a fresh virtual
# environment and runs its pytest suite (python/tests) against onnx and ONNX Runtime.
# Usage: scripts/python_package.sh [VENV_DIR]   (default: a new temporary folder, removed after)
# CARGO_TARGET_DIR defaults to the workspace's target/ so compiled dependencies are reused.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
if [ $# -ge 1 ]; then
  VENV="$1"
else
  VENV="$(mktemp -d)/venv"
  trap 'rm -rf "$(dirname "$VENV")"' EXIT
fi
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check maturin pytest onnx onnxruntime numpy
"$VENV/bin/pip" install --quiet --disable-pip-version-check .
# The issue's acceptance line, then the suite (the console script is tested from the venv).
"$VENV/bin/python" -c "import lnopt, onnx; lnopt.optimize(onnx.load('fixtures/fusion/ln_pytorch_canonical/model.onnx'))"
"$VENV/bin/pytest" -q python/tests

#!/usr/bin/env bash
# Set up (idempotently) the repo-local virtual environment .venv:
# pinned requirements (CPU torch, ROS 2 Jazzy wheels, ...) and this package in editable mode.
# A second run with unchanged requirements/setup.py returns in well under a second.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.selfpose3d-setup
want=$(cat requirements.txt setup.py | sha256sum | cut -d' ' -f1)

if [[ -x $VENV/bin/python && -f $STAMP && "$(cat "$STAMP")" == "$want" ]]; then
  exit 0
fi

echo "[setup] creating $VENV and installing requirements (first run: about a minute)"
if [[ ! -x $VENV/bin/python ]]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
  --no-build-isolation -e .
echo "$want" > "$STAMP"
echo "[setup] done: $("$VENV/bin/python" -c 'import torch; print("torch", torch.__version__)')"

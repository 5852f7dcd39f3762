#!/usr/bin/env bash
# README command 2: set up (idempotent) and run the whole test suite plus the linter.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
# the optional 2D-detector extra (torch 2.14.1 + ultralytics, AGPL weights) lives in its own
# venv; the detector tests run in it (first run: a few minutes, then instant)
bash scripts/setup_detect.sh
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"

#!/usr/bin/env bash
# README command 1: set everything up, then run the main job on the embedded default
# (the synthetic operating-room rig). Extra arguments go to `selfpose3d demo`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/selfpose3d demo "$@"

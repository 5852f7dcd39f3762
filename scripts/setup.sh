#!/usr/bin/env bash
# Set up (idempotently) the repo-local virtual environment .venv:
# 1. pinned requirements (CPU torch, ROS 2 Jazzy wheels, ...) and this package in editable mode;
# 2. the package's ROS 2 message types (msg/*.msg → `from selfpose3d.msg import ...`),
#    generated with rosidl + cmake into .venv (scripts/build_msgs.py; build files in build/msgs).
# Each step has a stamp keyed on the hash of its inputs: a second run with nothing changed
# returns in well under a second.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.selfpose3d-setup
MSG_STAMP=$VENV/.selfpose3d-msgs
# setup.py reads the console scripts from cmake/*.setup.cfg: a new script needs a reinstall
want=$(cat requirements.txt setup.py cmake/*.setup.cfg | sha256sum | cut -d' ' -f1)
# Whatever changes the generated types or the tools that generate them.
msg_want=$(cat msg/*.msg CMakeLists.txt package.xml requirements.txt scripts/build_msgs.py \
  | sha256sum | cut -d' ' -f1)

msgs_installed() {
  compgen -G "$VENV/lib/python3*/site-packages/selfpose3d/msg/__init__.py" > /dev/null
}

if [[ -x $VENV/bin/python && -f $STAMP && "$(cat "$STAMP")" == "$want" ]]; then
  if [[ -f $MSG_STAMP && "$(cat "$MSG_STAMP")" == "$msg_want" ]] && msgs_installed; then
    exit 0
  fi
else
  echo "[setup] creating $VENV and installing requirements (first run: about a minute)"
  if [[ ! -x $VENV/bin/python ]]; then
    "$PYTHON" -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
    --no-build-isolation -e .
  echo "$want" > "$STAMP"
  echo "[setup] done: $("$VENV/bin/python" -c 'import torch; print("torch", torch.__version__)')"
fi

echo "[setup] generating the ROS 2 message types (msg/*.msg, rosidl + cmake) into $VENV" \
  "(about 15 s)"
rm -f "$MSG_STAMP"
"$VENV/bin/python" scripts/build_msgs.py
echo "$msg_want" > "$MSG_STAMP"

"""The `selfpose3d` command line: --help of every command, and the light commands end to end."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from selfpose3d_core.cli import build_parser, main

REPO = Path(__file__).resolve().parents[1]
COMMANDS = ["demo", "synth", "show", "room", "train", "eval", "infer", "pseudo-label",
            "import-detections"]


def test_every_command_has_help(capsys):
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(COMMANDS)
    for cmd in COMMANDS:
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0
        assert "usage: selfpose3d " + cmd in capsys.readouterr().out


def test_console_script_entry_point():
    exe = Path(sys.executable).with_name("selfpose3d")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "selfpose3d_core.cli"]
    r = subprocess.run(cmd + ["--help"], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert r.returncode == 0 and "synth" in r.stdout and "train" in r.stdout


def test_synth_show_room(tmp_path, capsys):
    ds = tmp_path / "ds"
    assert main(["synth", "--out", str(ds), "--frames", "3", "--cameras", "4", "--people",
                 "2", "--width", "320", "--height", "240", "--seed", "3"]) == 0
    assert (ds / "dataset.yaml").is_file() and (ds / "images" / "cam3").is_dir()
    assert main(["show", str(ds), "--frame", "2", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 10_000
    capsys.readouterr()
    assert main(["room", str(ds)]) == 0
    room = yaml.safe_load(capsys.readouterr().out)["room_grid"]
    assert len(room["shape"]) == 3 and all(s % 4 == 0 for s in room["shape"])
    assert 3.0 < room["size"][0] < 8.0


def test_bad_input_is_a_clean_error(tmp_path, caplog):
    (tmp_path / "bad.yaml").write_text("cameras: []\n")
    assert main(["room", str(tmp_path / "bad.yaml")]) == 2
    assert "non-empty" in caplog.text

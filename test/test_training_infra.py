"""Training infrastructure: RNG state, checkpoints, progress, metrics log and curves plot."""

from __future__ import annotations

import io
import json
import logging
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from selfpose3d_core.training import checkpoint as ckpt_mod
from selfpose3d_core.training.checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointManager,
    load_checkpoint,
    make_payload,
    save_checkpoint,
)
from selfpose3d_core.training.distributed import shard_indices, single_process
from selfpose3d_core.training.metrics_log import (
    CURVES_HEADER_PX,
    MetricsLogger,
    plot_curves,
    read_metrics,
    render_curves,
)
from selfpose3d_core.training.progress import (
    Progress,
    format_eta,
    format_metrics,
    format_rate,
    format_value,
)
from selfpose3d_core.training.rng import (
    capture_rng_state,
    generator_state,
    restore_rng_state,
    seed_everything,
    set_generator_state,
)

REPO = Path(__file__).resolve().parents[1]


def _draws() -> tuple:
    return (random.random(), random.getrandbits(64), np.random.rand(3).tolist(),
            np.random.randn(2).tolist(), torch.rand(4).tolist(), torch.randn(2).tolist())


def _tiny_payload(value: float = 1.0, **kw) -> dict:
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    with torch.no_grad():
        model.weight.fill_(value)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2)
    return make_payload({"name": "tiny", "joints": 15}, model.state_dict(),
                        train_config={"lr": 1e-3, "batch": 4}, optimizer=opt.state_dict(),
                        scheduler=sched.state_dict(), stage="pose", **kw)


# ---------------------------------------------------------------------------------------
# RNG
# ---------------------------------------------------------------------------------------

class TestRngState:
    def test_round_trip_in_memory(self):
        seed_everything(123)
        _draws()
        state = capture_rng_state()
        expected = _draws()
        _draws()  # move everything on
        restore_rng_state(state)
        assert _draws() == expected

    @pytest.mark.parametrize("weights_only", [False, True])
    def test_round_trip_through_torch_save(self, tmp_path, weights_only):
        seed_everything(7)
        state = capture_rng_state()
        expected = _draws()
        torch.save({"rng": state}, tmp_path / "rng.pt")
        seed_everything(99)
        loaded = torch.load(tmp_path / "rng.pt", weights_only=weights_only)["rng"]
        restore_rng_state(loaded)
        assert _draws() == expected

    def test_numpy_normal_cache_is_restored(self):
        # the legacy generator caches the second Gaussian of each Box-Muller pair
        np.random.seed(3)
        np.random.randn(1)
        state = capture_rng_state()
        a = np.random.randn(3)
        restore_rng_state(state)
        np.testing.assert_array_equal(np.random.randn(3), a)

    def test_missing_keys_raise(self):
        with pytest.raises(ValueError, match="lacks keys"):
            restore_rng_state({"python": random.getstate()})

    @pytest.mark.parametrize("make", [np.random.default_rng,
                                      lambda s: np.random.Generator(np.random.MT19937(s))])
    def test_explicit_generator_round_trip(self, tmp_path, make):
        g = make(5)
        g.random(10)
        state = generator_state(g)
        expected = g.normal(size=4)
        torch.save(state, tmp_path / "g.pt")
        g2 = make(0)
        set_generator_state(g2, torch.load(tmp_path / "g.pt", weights_only=True))
        np.testing.assert_array_equal(g2.normal(size=4), expected)

    def test_generator_kind_mismatch(self):
        with pytest.raises(ValueError, match="PCG64"):
            set_generator_state(np.random.Generator(np.random.MT19937(0)),
                                generator_state(np.random.default_rng(0)))

    def test_seed_rejects_bad_values(self):
        with pytest.raises(ValueError, match="got -1"):
            seed_everything(-1)


# ---------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------

class TestCheckpoint:
    def test_save_load_round_trip_with_safe_load(self, tmp_path):
        payload = _tiny_payload(2.0, epoch=3, step=40, extra={"gen": generator_state(
            np.random.default_rng(1)), "batch_in_epoch": 5})
        path = save_checkpoint(tmp_path / "a" / "c.pt", payload)
        back = load_checkpoint(path)  # weights_only=True by default
        assert back["format"] == CHECKPOINT_FORMAT
        assert back["model_config"] == {"name": "tiny", "joints": 15}
        assert (back["epoch"], back["step"], back["stage"]) == (3, 40, "pose")
        assert torch.equal(back["state_dict"]["weight"], torch.full((2, 3), 2.0))
        assert back["optimizer"]["param_groups"][0]["lr"] == 1e-3
        assert back["extra"]["batch_in_epoch"] == 5
        restore_rng_state(back["rng"])
        assert [p.name for p in path.parent.iterdir()] == ["c.pt"]  # no temp files left

    def test_missing_required_keys_are_named(self, tmp_path):
        with pytest.raises(ValueError, match=r"\['model_config', 'state_dict'\]"):
            save_checkpoint(tmp_path / "x.pt", {"format": CHECKPOINT_FORMAT})
        assert not (tmp_path / "x.pt").exists()

    def test_unknown_format_rejected_on_save_and_load(self, tmp_path):
        payload = _tiny_payload()
        payload["format"] = "voxelpose"
        with pytest.raises(ValueError, match="unknown format 'voxelpose'"):
            save_checkpoint(tmp_path / "x.pt", payload)
        torch.save(payload, tmp_path / "foreign.pt")
        with pytest.raises(ValueError, match="unknown checkpoint format 'voxelpose'"):
            load_checkpoint(tmp_path / "foreign.pt")
        torch.save({"state_dict": {}}, tmp_path / "bare.pt")
        with pytest.raises(ValueError, match="unknown checkpoint format None"):
            load_checkpoint(tmp_path / "bare.pt")

    def test_non_plain_values_named_on_save(self, tmp_path):
        payload = _tiny_payload()
        payload["train_config"]["data_root"] = tmp_path
        with pytest.raises(ValueError, match=r"\['train_config'\]\['data_root'\].*Path"):
            save_checkpoint(tmp_path / "x.pt", payload)
        payload["train_config"]["data_root"] = str(tmp_path)
        payload["extra"]["best"] = np.float64(0.5)
        with pytest.raises(ValueError, match="numpy.float64"):
            save_checkpoint(tmp_path / "x.pt", payload)
        save_checkpoint(tmp_path / "x.pt", payload, check_types=False)
        with pytest.raises(ValueError, match="weights_only=False"):
            load_checkpoint(tmp_path / "x.pt")
        assert load_checkpoint(tmp_path / "x.pt", weights_only=False)["extra"]["best"] == 0.5

    def test_every_accepted_value_loads_safely(self, tmp_path):
        """The saver's type check is no wider than torch's weights_only unpickler."""
        odd = {"complex": 1 + 2j, "set": {1, 2}, "bytes": b"x", "bytearray": bytearray(b"y"),
               "size": torch.Size([2, 3]), "dtype": torch.bfloat16,
               "device": torch.device("cpu"), "big": 2 ** 130, (1, "tuple key"): None,
               "param": torch.nn.Parameter(torch.ones(2)), "nested": [(1.5, [True, None])]}
        path = save_checkpoint(tmp_path / "odd.pt", _tiny_payload(extra=odd))
        back = load_checkpoint(path)["extra"]
        assert back.keys() == odd.keys()
        assert back["size"] == torch.Size([2, 3]) and back["big"] == 2 ** 130
        with pytest.raises(ValueError, match="frozenset"):
            save_checkpoint(path, _tiny_payload(extra={"f": frozenset()}))

    def test_missing_file(self, tmp_path):
        with pytest.raises(FileNotFoundError):
            load_checkpoint(tmp_path / "nope.pt")

    def test_crash_mid_write_keeps_previous_checkpoint(self, tmp_path, monkeypatch):
        path = save_checkpoint(tmp_path / "last.pt", _tiny_payload(1.0, step=10))
        before = path.read_bytes()
        real_save = torch.save

        def crashing_save(obj, f, *a, **k):
            buf = io.BytesIO()
            real_save(obj, buf)
            f.write(buf.getvalue()[: len(buf.getvalue()) // 2])  # half the bytes hit disk
            raise OSError("disk full (simulated)")

        monkeypatch.setattr(ckpt_mod.torch, "save", crashing_save)
        with pytest.raises(OSError, match="simulated"):
            save_checkpoint(path, _tiny_payload(5.0, step=20))
        monkeypatch.undo()
        assert path.read_bytes() == before
        assert load_checkpoint(path)["step"] == 10
        assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]

    def test_killed_process_keeps_previous_checkpoint(self, tmp_path):
        """A hard kill (no cleanup runs) mid-write leaves the old file and a stray temp."""
        mgr = CheckpointManager(tmp_path, keep_last=2)
        mgr.save(_tiny_payload(1.0, step=10), step=10)
        code = (
            "import io, os, signal, torch\n"
            "from selfpose3d_core.training import checkpoint as c\n"
            "real = torch.save\n"
            "def dying_save(obj, f, *a, **k):\n"
            "    buf = io.BytesIO(); real(obj, buf)\n"
            "    f.write(buf.getvalue()[:1000]); f.flush()\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n"
            "c.torch.save = dying_save\n"
            "p = c.make_payload({'name': 'x'}, {'w': torch.zeros(1000)}, step=20)\n"
            f"c.CheckpointManager({str(tmp_path)!r}, keep_last=2).save(p, step=20)\n"
        )
        r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                           timeout=60)
        assert r.returncode == -9, r.stderr.decode()
        names = sorted(p.name for p in tmp_path.iterdir())
        assert [n for n in names if not n.startswith(".")] == ["last.pt", "step_0000010.pt"]
        assert any(n.startswith(".step_0000020.pt.") for n in names)  # the interrupted write
        assert load_checkpoint(tmp_path / "last.pt")["step"] == 10
        mgr2 = CheckpointManager(tmp_path, keep_last=2)  # removes the stray temp file
        assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "step_0000010.pt"]
        assert mgr2.latest() == tmp_path / "last.pt"

    def test_manager_prunes_and_tracks_latest(self, tmp_path):
        mgr = CheckpointManager(tmp_path / "ckpt", keep_last=2)
        assert mgr.latest() is None
        for epoch in range(5):
            mgr.save(_tiny_payload(float(epoch), epoch=epoch, step=100 * epoch), epoch=epoch,
                     step=100 * epoch)
        names = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
        assert names == ["epoch_0003.pt", "epoch_0004.pt", "last.pt", "step_0000300.pt",
                         "step_0000400.pt"]
        assert mgr.latest() == tmp_path / "ckpt" / "last.pt"
        last = load_checkpoint(mgr.latest())
        assert last["epoch"] == 4
        assert torch.equal(last["state_dict"]["weight"], torch.full((2, 3), 4.0))
        # last.pt stays valid when its numbered twin is pruned
        mgr.save(_tiny_payload(9.0, epoch=9), epoch=9)
        assert [p.name for p in mgr.numbered("epoch")] == ["epoch_0004.pt", "epoch_0009.pt"]
        assert load_checkpoint(mgr.latest())["epoch"] == 9
        (tmp_path / "ckpt" / "last.pt").unlink()
        assert mgr.latest().name == "epoch_0009.pt"

    def test_latest_prefers_a_numbered_file_newer_than_last(self, tmp_path):
        """A crash between writing step_N.pt and swapping last.pt: resume from step_N."""
        mgr = CheckpointManager(tmp_path, keep_last=3)
        mgr.save(_tiny_payload(step=10), step=10)
        newer = save_checkpoint(tmp_path / "step_0000020.pt", _tiny_payload(step=20))
        os.utime(tmp_path / "last.pt", ns=(1, 1))
        assert mgr.latest() == newer

    def test_manager_keep_zero_and_last_only(self, tmp_path):
        mgr = CheckpointManager(tmp_path, keep_last=0)
        mgr.save(_tiny_payload(epoch=1), epoch=1)
        mgr.save(_tiny_payload(epoch=2))
        assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
        with pytest.raises(ValueError, match="keep_last"):
            CheckpointManager(tmp_path, keep_last=-1)
        with pytest.raises(ValueError, match="epoch must be"):
            mgr.save(_tiny_payload(), epoch=-3)


def _train_with_resume(run_dir: Path, total_steps: int, stop_after: int | None = None,
                       resume: bool = False) -> dict[str, torch.Tensor]:
    """A loop following the resume recipe: dropout (torch RNG), a random augmentation from an
    explicit NumPy generator, per-epoch shuffling, Adam, a per-step LR schedule."""
    n, batch = 20, 4
    gen = torch.Generator().manual_seed(5)
    x, y = torch.randn(n, 4, generator=gen), torch.randn(n, 1, generator=gen)
    seed_everything(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Dropout(0.3), torch.nn.ReLU(),
                                torch.nn.Linear(16, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.7)
    aug = np.random.default_rng(1)
    mgr = CheckpointManager(run_dir, keep_last=2)
    step, epoch, batch_in_epoch = 0, 0, 0
    if resume:
        ck = load_checkpoint(mgr.latest())
        model.load_state_dict(ck["state_dict"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        step, epoch = ck["step"], ck["epoch"]
        batch_in_epoch = ck["extra"]["batch_in_epoch"]
        set_generator_state(aug, ck["extra"]["aug_rng"])
        restore_rng_state(ck["rng"])  # last: nothing may draw between this and training
    while step < total_steps:
        order = shard_indices(n, single_process(), seed=3, epoch=epoch)
        batches = [order[i:i + batch] for i in range(0, n, batch)]
        for b in batches[batch_in_epoch:]:
            xb = x[b] + torch.from_numpy(aug.normal(0.0, 0.1, (len(b), 4))).float()
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(xb), y[b]).backward()
            opt.step()
            sched.step()
            step += 1
            batch_in_epoch += 1
            if batch_in_epoch == len(batches):
                epoch, batch_in_epoch = epoch + 1, 0
            if step == stop_after:
                mgr.save(make_payload({"name": "toy"}, model.state_dict(),
                                      optimizer=opt.state_dict(),
                                      scheduler=sched.state_dict(), epoch=epoch, step=step,
                                      extra={"batch_in_epoch": batch_in_epoch,
                                             "aug_rng": generator_state(aug)}), step=step)
                return model.state_dict()
            if step == total_steps:
                break
    return model.state_dict()


@pytest.mark.parametrize("stop_after", [7, 10])  # mid-epoch and at an epoch boundary
def test_bit_exact_resume_recipe(tmp_path, stop_after):
    straight = _train_with_resume(tmp_path / "a", total_steps=13)
    _train_with_resume(tmp_path / "b", total_steps=13, stop_after=stop_after)
    seed_everything(12345)  # a fresh process would start from some other RNG state
    resumed = _train_with_resume(tmp_path / "b", total_steps=13, resume=True)
    for k, v in straight.items():
        assert torch.equal(v, resumed[k]), k


# ---------------------------------------------------------------------------------------
# Progress
# ---------------------------------------------------------------------------------------

class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class TtyStream(io.StringIO):
    def isatty(self) -> bool:
        return True


class TestProgressFormatting:
    @pytest.mark.parametrize("seconds, text", [
        (0, "00:00"), (5.4, "00:05"), (59.6, "01:00"), (75, "01:15"), (3599, "59:59"),
        (3600, "1:00:00"), (3725.4, "1:02:05"), (86399, "23:59:59"), (90061, "1d 01:01:01"),
        (None, "?"), (math.inf, "?"), (math.nan, "?")])
    def test_format_eta(self, seconds, text):
        assert format_eta(seconds) == text

    def test_format_eta_negative(self):
        with pytest.raises(ValueError, match="-1"):
            format_eta(-1)

    def test_format_rate_and_values(self):
        assert format_rate(36.2) == "36.20 it/s"
        assert format_rate(0.25, "batch") == "4.00 s/batch"
        assert format_rate(None) == "? it/s"
        assert format_value(torch.tensor(0.5)) == "0.5"
        assert format_value(np.float32(1e-5)) == "1.00e-05"
        assert format_value(float("nan")) == "nan"
        assert format_metrics({"loss": 0.123456, "lr": 1e-4, "n": 3}) == (
            "loss=0.1235 lr=1.00e-04 n=3")


class TestProgress:
    def test_non_tty_logs_lines_without_carriage_returns(self, caplog):
        clock, stream = FakeClock(), io.StringIO()
        with caplog.at_level(logging.INFO, logger="selfpose3d_core.training.progress"):
            with Progress(100, desc="train", stream=stream, log_interval_s=10.0,
                          clock=clock) as bar:
                for _ in range(100):
                    clock.t += 0.5
                    bar.update(loss=0.25, lr=1e-3)
        assert stream.getvalue() == ""
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 6  # t = 10, 20, 30, 40, 50 s and the final record
        assert lines[0] == "train:  20% 20/100 [00:10<00:40, 2.00 it/s] loss=0.25 lr=0.001"
        assert lines[-1].startswith("train: 100% 100/100 [00:50<00:00, 2.00 it/s]")
        assert lines[-1].endswith("(done)")

    def test_tty_redraws_one_line(self):
        clock, stream = FakeClock(), TtyStream()
        bar = Progress(10, desc="ep 1", stream=stream, min_interval_s=0.5, clock=clock)
        assert bar.tty
        for _ in range(10):
            clock.t += 1.0
            bar.update(loss=1.5)
        bar.close()
        bar.close()  # idempotent
        out = stream.getvalue()
        assert out.count("\n") == 1 and out.endswith("\n")
        assert out.count("\r") == 11
        final = out.rsplit("\r", 1)[1]
        assert final.startswith("ep 1: 100%|====================| 10/10 [00:10<00:00, "
                                "1.00 it/s] loss=1.5")

    def test_unknown_total_and_rate_limit(self):
        clock, stream = FakeClock(), TtyStream()
        bar = Progress(None, unit="img", stream=stream, min_interval_s=1.0, clock=clock)
        for _ in range(8):
            clock.t += 0.25
            bar.update(4)
        assert stream.getvalue().count("\r") == 2  # 8 updates over 2 s, 1 s apart
        assert bar.format_line() == "32 img [00:02, 16.00 img/s]"
        assert bar.eta is None

    def test_disabled_is_silent(self, caplog):
        stream = io.StringIO()
        with caplog.at_level(logging.INFO):
            with Progress(3, stream=stream, enabled=False, log_interval_s=0) as bar:
                bar.update(3, loss=1.0)
        assert stream.getvalue() == "" and not caplog.records

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="total"):
            Progress(-1)
        with pytest.raises(ValueError, match="n must be"):
            Progress(3, stream=io.StringIO()).update(-1)


# ---------------------------------------------------------------------------------------
# Metrics log and plot
# ---------------------------------------------------------------------------------------

def _write_run(directory: Path, steps: range, resume_step: int | None = None) -> None:
    t = iter(range(10_000))
    with MetricsLogger(directory, resume_step=resume_step, clock=lambda: next(t)) as mlog:
        for s in steps:
            stage = "root" if s < 60 else "pose"
            mlog.log(s, {"loss/total": 1.0 / (1 + s) + 0.01 * math.sin(s),
                         "loss/pose": 0.5 / (1 + s) if stage == "pose" else None,
                         "lr": 1e-3 if s < 80 else 1e-4}, epoch=s // 20, stage=stage)
            if s % 20 == 19:
                mlog.log(s, {"val/mpjpe_mm": 200.0 - s}, epoch=s // 20, stage=stage)


class TestMetricsLog:
    def test_records_and_nonfinite(self, tmp_path):
        with MetricsLogger(tmp_path, clock=lambda: 12.3456) as mlog:
            rec = mlog.log(3, {"loss": torch.tensor(0.5), "a": np.float32(2.0), "bad": math.nan,
                               "big": -math.inf, "n": 4}, epoch=1, stage="2d")
        assert rec == {"step": 3, "epoch": 1, "stage": "2d", "time": 12.346, "loss": 0.5,
                       "a": 2.0, "bad": None, "big": None, "n": 4.0}
        text = (tmp_path / "metrics.jsonl").read_text()
        assert "NaN" not in text and "Infinity" not in text
        assert json.loads(text) == rec
        assert read_metrics(tmp_path / "metrics.jsonl") == [rec]

    def test_each_write_is_flushed(self, tmp_path):
        mlog = MetricsLogger(tmp_path)
        mlog.log(0, {"x": 1.0})
        assert len(read_metrics(tmp_path / "metrics.jsonl")) == 1  # visible before close
        mlog.close()

    def test_validation(self, tmp_path):
        with MetricsLogger(tmp_path) as mlog:
            with pytest.raises(ValueError, match="reserved|other than"):
                mlog.log(0, {"step": 1.0})
            with pytest.raises(ValueError, match="'name' must be a number"):
                mlog.log(0, {"name": "abc"})
            with pytest.raises(ValueError, match="step must be an integer"):
                mlog.log(1.5, {"x": 1.0})

    def test_append_after_reopen_and_truncate_on_resume(self, tmp_path):
        _write_run(tmp_path, range(0, 50))
        # crashed run: wrote up to step 49, checkpoint was at step 30
        _write_run(tmp_path, range(31, 50), resume_step=30)
        rows = read_metrics(tmp_path / "metrics.jsonl")
        steps = [r["step"] for r in rows if "loss/total" in r]
        assert steps == list(range(50))  # no duplicates, in order
        mlog = MetricsLogger(tmp_path)
        assert mlog.truncate_after(9) == len(rows) - 10 - 0  # steps 10.. removed (no val ≤ 9)
        mlog.log(10, {"x": 1.0})
        mlog.close()
        assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == list(
            range(11))

    def test_partial_last_line_from_a_crash_is_dropped(self, tmp_path, caplog):
        _write_run(tmp_path, range(5))
        with open(tmp_path / "metrics.jsonl", "a") as f:
            f.write('{"step": 5, "loss/to')  # the crash cut this record
        with caplog.at_level(logging.WARNING):
            with MetricsLogger(tmp_path) as mlog:
                mlog.log(5, {"loss/total": 0.1})
        rows = read_metrics(tmp_path / "metrics.jsonl")
        assert [r["step"] for r in rows] == [0, 1, 2, 3, 4, 5]
        assert "incomplete last line" in caplog.text

    def test_disabled_touches_nothing(self, tmp_path):
        mlog = MetricsLogger(tmp_path / "run", enabled=False)
        assert mlog.log(0, {"x": 1.0}) is None
        assert not (tmp_path / "run").exists()


class TestPlotCurves:
    def test_png_has_expected_size_and_content(self, tmp_path):
        _write_run(tmp_path, range(0, 120))
        out = plot_curves(tmp_path / "metrics.jsonl", tmp_path / "plots" / "curves.png",
                          width=1000, panel_height=300)
        assert out.stat().st_size > 10_000
        img = cv2.imread(str(out))
        # panels: loss (total + pose), lr, val → 2 rows of 2
        assert img.shape == (CURVES_HEADER_PX + 2 * 300, 1000, 3)
        assert (img < 250).any(axis=2).mean() > 0.02  # something was drawn
        assert len(np.unique(img.reshape(-1, 3), axis=0)) > 50  # colours, antialiasing

    def test_key_selection_and_errors(self, tmp_path):
        _write_run(tmp_path, range(0, 40))
        rows = read_metrics(tmp_path / "metrics.jsonl")
        img = render_curves(rows, keys=["loss", "lr"], width=800, panel_height=200,
                            columns=1)
        assert img.shape == (CURVES_HEADER_PX + 400, 800, 3)
        img = render_curves(rows, keys=[["loss/total", "val/mpjpe_mm"]], width=600,
                            panel_height=200)
        assert img.shape == (CURVES_HEADER_PX + 200, 600, 3)
        with pytest.raises(ValueError, match=r"unknown metrics \['nope'\]"):
            render_curves(rows, keys=["nope"])
        with pytest.raises(ValueError, match="smoothing"):
            render_curves(rows, smoothing=1.0)
        (tmp_path / "empty.jsonl").write_text("")
        with pytest.raises(ValueError, match="no records"):
            plot_curves(tmp_path / "empty.jsonl", tmp_path / "e.png")


def test_infra_modules_import_without_side_effects():
    code = ("import sys; import selfpose3d_core.training.checkpoint, "
            "selfpose3d_core.training.progress, selfpose3d_core.training.metrics_log, "
            "selfpose3d_core.training.distributed, selfpose3d_core.training.rng; "
            "import torch.distributed as d; sys.exit(int(d.is_initialized()))")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                       timeout=60, env={**os.environ, "WORLD_SIZE": "2"})
    assert r.returncode == 0, r.stderr.decode()

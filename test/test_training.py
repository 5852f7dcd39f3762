"""Self-supervised training: each loss decreases over a few steps, training runs with the
ground truth deleted, and a run killed mid-way resumes to the uninterrupted run's state."""

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from selfpose3d_core.data import dataset as dataset_module
from selfpose3d_core.geometry.grid import VoxelGrid
from selfpose3d_core.models import CubeConfig, model_preset
from selfpose3d_core.synthetic import SynthConfig, synthesize
from selfpose3d_core.training.config import STAGES, StageConfig, TrainConfig
from selfpose3d_core.training.trainer import Trainer, stage_networks

REPO = Path(__file__).resolve().parents[1]

TINY_MODEL = dataclasses.replace(
    model_preset("small"), input_size=(160, 128), heatmap_size=(40, 32),
    room=VoxelGrid(center=(0, 0, 1), size=(6, 6, 2), shape=(16, 16, 8)),
    cube=CubeConfig(size=(2.0, 2.0, 2.0), shape=(16, 16, 16)),
    root_channels=(4, 8, 8, 8), pose_channels=(8, 8, 16, 16), max_people=3,
    root_threshold=-1.0)  # every proposal valid: the pose stages train without a root_net


def tiny_train_config(epochs: float = 0.25, **kw) -> TrainConfig:
    stages = {s: StageConfig(epochs=epochs, lr=1e-3, batch_size=1) for s in STAGES}
    kw.setdefault("proposal_threshold", -1.0)  # every proposal: no root_net needed
    return TrainConfig(stages=stages, log_every=1, checkpoint_every=0, **kw)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny") / "ds"
    synthesize(SynthConfig.from_dict({"num_frames": 8, "image_width": 320, "image_height": 240,
                                      "num_people": 2, "seed": 5}), root)
    return root


@pytest.fixture(autouse=True)
def _threads():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.mark.parametrize("stage", ["backbone", "root", "pose_l2", "pose_l1"])
def test_each_stage_decreases_its_loss(tiny_dataset, tmp_path, stage):
    cfg = tiny_train_config()
    tr = Trainer(TINY_MODEL, cfg, tiny_dataset, tmp_path / "run", resume=False,
                 show_progress=False)
    opt, mods = tr._setup_stage(stage, stage_networks(stage, cfg), 100)
    for g in opt.param_groups:
        g["lr"] = 3e-3
    history = []
    for _ in range(12):  # the same batch and draws every step: the loss must go down
        rng, gen = tr._generators(0, 0)
        losses = tr._train_step(stage, mods, [3], rng, gen)
        opt.zero_grad()
        losses["total"].backward()
        opt.step()
        history.append({k: float(v.detach()) for k, v in losses.items()})
    # (root_con starts at 0: an untrained root_net's last layer starts at zero, so every
    # copy's volume is the same constant; the consistency test below covers it)
    keys = [k for k in history[0]
            if k not in ("total", "people", "attn_reg") and history[0][k] > 1e-9]
    assert keys, history[0]
    for k in keys:
        first, last = history[0][k], min(h[k] for h in history[-3:])
        assert np.isfinite(last) and last < first, (stage, k, [h[k] for h in history])


def test_training_never_reads_ground_truth(tiny_dataset, tmp_path, monkeypatch):
    ds = tmp_path / "no_gt"
    shutil.copytree(tiny_dataset, ds)
    shutil.rmtree(ds / "gt")

    def forbidden(*a, **k):
        raise AssertionError("self-supervised training constructed a GroundTruth3D")

    monkeypatch.setattr(dataset_module.GroundTruth3D, "__init__", forbidden)
    tr = Trainer(TINY_MODEL, tiny_train_config(), ds, tmp_path / "run", show_progress=False)
    res = tr.run()
    assert tr.state["stage_index"] == len(STAGES)
    assert res.steps == sum(tr.stage_steps(s) for s in STAGES
                            if stage_networks(s, tr.cfg)) and res.steps > 0
    assert res.checkpoint.is_file() and (tmp_path / "run" / "metrics.jsonl").is_file()
    assert (tmp_path / "run" / "loss_curves.png").is_file()


def test_training_ends_with_a_body_prior_from_the_detections(tmp_path, monkeypatch):
    """The last step of training fits the body prior to the training recording's
    triangulated detections (no ground truth: deleted and forbidden here); the checkpoint,
    a resumed trainer, the inference export and the rebuilt model all carry it."""
    from selfpose3d_core.cli import export_model
    from selfpose3d_core.models.estimator import load_checkpoint_file
    from selfpose3d_core.models.model import model_from_checkpoint

    ds = tmp_path / "ds"
    synthesize(SynthConfig.from_dict({"num_frames": 30, "image_width": 320,
                                      "image_height": 240, "num_people": 3, "seed": 5}), ds)
    shutil.rmtree(ds / "gt")

    def forbidden(*a, **k):
        raise AssertionError("fitting the body prior constructed a GroundTruth3D")

    monkeypatch.setattr(dataset_module.GroundTruth3D, "__init__", forbidden)
    cfg = tiny_train_config(0.0)  # no steps: just the closing fit
    tr = Trainer(TINY_MODEL, cfg, ds, tmp_path / "run", show_progress=False)
    res = tr.run()
    prior = tr.model.body_prior
    assert prior is not None and prior.count >= 30 and prior.mean.shape == (15, 3)
    again = Trainer(TINY_MODEL, cfg, ds, tmp_path / "run", show_progress=False)
    np.testing.assert_array_equal(again.model.body_prior.cov, prior.cov)
    model = model_from_checkpoint(load_checkpoint_file(
        export_model(res.checkpoint, tmp_path / "model.pt")))
    np.testing.assert_array_equal(model.body_prior.mean, prior.mean)
    off = Trainer(TINY_MODEL, dataclasses.replace(cfg, body_prior=False), ds,
                  tmp_path / "off", show_progress=False)
    off.run()
    assert off.model.body_prior is None


def test_supervised_mode_reads_gt_and_trains(tiny_dataset, tmp_path):
    tr = Trainer(TINY_MODEL, tiny_train_config(mode="supervised"), tiny_dataset,
                 tmp_path / "sup", show_progress=False)
    res = tr.run()
    for stage in ("backbone", "root", "pose_l2"):
        assert all(np.isfinite(v) for v in res.losses[stage].values())
    assert "l1_3d" in res.losses["pose_l2"] and "root_gt" in res.losses["root"]


def test_init_from_a_checkpoint_records_its_lineage(tiny_dataset, tmp_path):
    """`--init`: a run started from another run's weights records where they came from
    (checkpoint, stage, both configs), and the exported model keeps that record."""
    from selfpose3d_core.cli import export_model
    from selfpose3d_core.training.checkpoint import load_checkpoint

    only = {s: StageConfig(epochs=0) for s in STAGES}
    first = dataclasses.replace(tiny_train_config(), heatmap_source="detections", stages={
        **only, "root": StageConfig(epochs=0.25, lr=1e-3, batch_size=1)})
    a = Trainer(TINY_MODEL, first, tiny_dataset, tmp_path / "a", show_progress=False).run()
    second = dataclasses.replace(tiny_train_config(), heatmap_source="images", stages={
        **only, "backbone": StageConfig(epochs=0.25, lr=1e-3, batch_size=1)})
    b = Trainer(TINY_MODEL, second, tiny_dataset, tmp_path / "b", show_progress=False,
                init_weights=a.checkpoint).run()
    ck_a, ck_b = load_checkpoint(a.checkpoint), load_checkpoint(b.checkpoint)
    assert "lineage" not in ck_a["extra"] or ck_a["extra"]["lineage"] == []
    (entry,) = ck_b["extra"]["lineage"]
    assert entry["checkpoint"] == str(a.checkpoint)
    assert entry["train_config"]["heatmap_source"] == "detections"
    assert entry["train_config"]["stages"]["root"]["epochs"] == 0.25
    assert ck_b["train_config"]["heatmap_source"] == "images"
    # the root_net of the first run was carried over untouched (the backbone stage only)
    for k, v in ck_a["state_dict"].items():
        if k.startswith("root_net."):
            assert torch.equal(v, ck_b["state_dict"][k]), k
    exported = load_checkpoint(export_model(b.checkpoint, tmp_path / "model.pt"))
    assert exported["extra"]["lineage"] == ck_b["extra"]["lineage"]


_RUN = """
import sys, torch, dataclasses
torch.set_num_threads(1)
sys.path.insert(0, {test_dir!r})
from test_training import TINY_MODEL, tiny_train_config
from selfpose3d_core.training.trainer import Trainer
cfg = dataclasses.replace(tiny_train_config(0.5), checkpoint_every=1)
Trainer(TINY_MODEL, cfg, {ds!r}, {out!r}, show_progress=False).run()
"""


def test_resume_after_kill_reproduces_uninterrupted_run(tiny_dataset, tmp_path):
    cfg = dataclasses.replace(tiny_train_config(0.5), checkpoint_every=1)
    ref = Trainer(TINY_MODEL, cfg, tiny_dataset, tmp_path / "ref", show_progress=False)
    ref.run()
    killed = tmp_path / "killed"
    script = _RUN.format(test_dir=str(Path(__file__).parent), ds=str(tiny_dataset),
                         out=str(killed))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, cwd=REPO,
                            start_new_session=True)
    metrics = killed / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if metrics.is_file() and len(metrics.read_text().splitlines()) >= 7:
            break  # well into the run (a later stage), checkpoints every step
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    resumed = Trainer(TINY_MODEL, cfg, tiny_dataset, killed, show_progress=False)
    assert 0 < resumed.state["global_step"] < ref.state["global_step"]
    resumed.run()
    assert resumed.state == ref.state
    a, b = ref.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_cli_train_eval_infer(tiny_dataset, tmp_path, capsys, caplog):
    import json

    import yaml

    from selfpose3d_core.cli import main

    (tmp_path / "model.yaml").write_text(yaml.safe_dump(TINY_MODEL.to_dict()))
    sched = tiny_train_config(0.25).to_dict()
    (tmp_path / "sched.yaml").write_text(yaml.safe_dump(sched))
    run = tmp_path / "run"
    assert main(["train", str(tiny_dataset), "--out", str(run), "--model",
                 str(tmp_path / "model.yaml"), "--schedule", str(tmp_path / "sched.yaml"),
                 "--room", "model", "--heatmap-source", "detections", "--no-progress"]) == 0
    assert (run / "model.pt").is_file()
    capsys.readouterr()
    assert main(["eval", str(run / "model.pt"), str(tiny_dataset), "--out",
                 str(tmp_path / "ev"), "--drop-view", "0"]) == 0
    assert "AP50" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["num_frames"] == 8 and metrics["num_gt"] > 0
    # inference-only overrides of the checkpoint's config (validated like the config)
    assert main(["eval", str(run / "model.pt"), str(tiny_dataset), "--frames", "0:2",
                 "--input-threshold", "0.3", "--refine-gate", "0.2"]) == 0
    assert "AP50" in capsys.readouterr().out
    assert main(["eval", str(run / "model.pt"), str(tiny_dataset), "--frames", "0:2",
                 "--refine-gate", "-1"]) != 0
    assert "refine_gate" in caplog.text
    assert main(["infer", str(run / "model.pt"), str(tiny_dataset), "--out",
                 str(tmp_path / "inf"), "--frames", "0:8:2", "--overlay-every", "2"]) == 0
    poses = json.loads((tmp_path / "inf" / "poses3d.json").read_text())
    assert [f["frame"] for f in poses["frames"]] == [0, 2, 4, 6]
    assert all(len(p["joints"]) == 15 for f in poses["frames"] for p in f["people"])
    assert len(list((tmp_path / "inf").glob("overlay_*.png"))) == 2
    # temporal fusion: tracks with ids over the frames, smoothed joints
    (tmp_path / "track.yaml").write_text("gate_m: 0.5\nrobust_k: 2.0\n")
    assert main(["infer", str(run / "model.pt"), str(tiny_dataset), "--out",
                 str(tmp_path / "inf_t"), "--temporal-config", str(tmp_path / "track.yaml"),
                 "--overlay-every", "4"]) == 0
    poses_t = json.loads((tmp_path / "inf_t" / "poses3d.json").read_text())
    people = [p for f in poses_t["frames"] for p in f["people"]]
    assert people and all(isinstance(p["track_id"], int) and "filled" in p for p in people)
    assert len(list((tmp_path / "inf_t").glob("overlay_*.png"))) == 2
    assert main(["eval", str(run / "model.pt"), str(tiny_dataset), "--temporal"]) == 0
    assert "AP50" in capsys.readouterr().out
    (tmp_path / "bad.yaml").write_text("gate: 0.5\n")
    assert main(["eval", str(run / "model.pt"), str(tiny_dataset), "--temporal-config",
                 str(tmp_path / "bad.yaml")]) != 0


def test_cli_demo_end_to_end_on_a_few_frames(tmp_path, capsys):
    """`selfpose3d demo` with a cut schedule: synthesis, training, the metrics table with
    the network alone, with the input fallback + refinement, and the baseline, overlays."""
    import json

    import yaml

    from selfpose3d_core.cli import main

    (tmp_path / "sched.yaml").write_text(yaml.safe_dump(tiny_train_config(0.25).to_dict()))
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--frames", "4", "--test-frames", "3",
                 "--schedule", str(tmp_path / "sched.yaml"), "--threads", "1"]) == 0
    table = capsys.readouterr().out
    assert "SelfPose3d (self-supervised, small)" in table and "refinement 0.2" in table
    assert "triangulation baseline" in table
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"selfsup", "selfsup_refined", "selfsup_temporal", "triangulation",
            "triangulation_temporal"} <= set(metrics)
    assert metrics["selfsup"]["num_frames"] == 3
    assert len(list(out.glob("overlay_*.png"))) == 3


def test_trainer_under_torchrun_two_gloo_ranks(tiny_dataset, tmp_path):
    """`selfpose3d train` launched by torchrun with 2 CPU processes (gloo): every stage runs
    under DDP, each step takes one frame per rank, and only rank 0 writes."""
    import json

    import yaml

    (tmp_path / "model.yaml").write_text(yaml.safe_dump(TINY_MODEL.to_dict()))
    sched = tiny_train_config(0.5, heatmap_source="detections").to_dict()
    (tmp_path / "sched.yaml").write_text(yaml.safe_dump(sched))
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO)}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT", "MASTER_ADDR"):
        env.pop(k, None)
    run = tmp_path / "run"
    # --standalone: a c10d rendezvous on a port torchrun picks itself
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           "--nproc_per_node", "2",
           "-m", "selfpose3d_core.cli", "train", str(tiny_dataset), "--out", str(run),
           "--model", str(tmp_path / "model.yaml"), "--schedule", str(tmp_path / "sched.yaml"),
           "--room", "model", "--no-progress"]
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"torchrun failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    assert (run / "model.pt").is_file()
    from selfpose3d_core.training.checkpoint import load_checkpoint

    ck = load_checkpoint(run / "checkpoints" / "last.pt")
    # detections mode: root + 3 pose stages, 0.5 epoch of 8 frames at 2 frames a step each
    assert ck["extra"]["trainer_state"]["global_step"] == 4 * 2
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [x["step"] for x in lines]
    assert steps == sorted(set(steps)), "metrics written by more than one rank"

"""DDP on the CPU with gloo, launched for real through torchrun.

The test launches this file with ``python -m torch.distributed.run --nproc_per_node 2``;
under torchrun it runs :func:`_worker` (each rank trains a tiny model on its shard with DDP
and saves its parameters). The test then checks that both ranks ended with identical
parameters and that they match one process trained on the union of the shards with the
same effective batch.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
if __name__ == "__main__":  # launched by torchrun: make the package importable
    sys.path.insert(0, str(REPO))

from selfpose3d_core.training.distributed import (  # noqa: E402
    DistInfo,
    all_reduce_mean,
    barrier,
    broadcast_object,
    cleanup,
    gather_object,
    init_distributed,
    shard_indices,
    single_process,
    unwrap_model,
    wrap_ddp,
)
from selfpose3d_core.training.rng import seed_everything  # noqa: E402

N_SAMPLES = 48
BATCH_PER_RANK = 4
EPOCHS = 2
WORLD = 2
SHARD_SEED = 11


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 5) inputs and (N, 2) targets, the same in every process."""
    rng = np.random.default_rng(2024)
    x = rng.normal(size=(N_SAMPLES, 5)).astype(np.float32)
    y = np.stack([np.sin(x[:, 0]) + x[:, 1] * x[:, 2], x[:, 3] - 0.5 * x[:, 4]], 1)
    return torch.from_numpy(x), torch.from_numpy(y.astype(np.float32))


def _model_and_optimizer() -> tuple[nn.Module, torch.optim.Optimizer]:
    seed_everything(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 2))
    return model, torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)


def _train_step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor,
                y: torch.Tensor) -> torch.Tensor:
    opt.zero_grad(set_to_none=True)
    loss = nn.functional.mse_loss(model(x), y)  # a mean over the batch
    loss.backward()
    opt.step()
    return loss.detach()


def _worker(out_dir: Path) -> None:
    info = init_distributed(device="cpu")
    try:
        assert info.world_size == WORLD and info.distributed
        x, y = _data()
        model, _ = _model_and_optimizer()
        if info.rank == 1:  # different init on purpose: DDP must broadcast rank 0's
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(1.0)
        model = wrap_ddp(model, info)
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        losses = []
        for epoch in range(EPOCHS):
            idx = shard_indices(N_SAMPLES, info, seed=SHARD_SEED, epoch=epoch)
            for start in range(0, len(idx), BATCH_PER_RANK):
                b = idx[start:start + BATCH_PER_RANK]
                loss = _train_step(model, opt, x[b], y[b])
                losses.append(float(all_reduce_mean(loss, info)))
        run_dir = broadcast_object(str(out_dir) if info.is_main else None, info)
        shards = gather_object(shard_indices(N_SAMPLES, info, SHARD_SEED, 0), info)
        torch.save({"params": {k: v.detach().clone()
                               for k, v in unwrap_model(model).state_dict().items()},
                    "losses": losses, "rank": info.rank, "run_dir": run_dir,
                    "shards": shards}, out_dir / f"rank{info.rank}.pt")
        barrier(info)
    finally:
        cleanup(info)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _single_process_reference() -> tuple[dict[str, torch.Tensor], list[float]]:
    """One process, batch = WORLD · BATCH_PER_RANK, the union of the ranks' batches."""
    x, y = _data()
    model, opt = _model_and_optimizer()
    losses = []
    for epoch in range(EPOCHS):
        shards = [shard_indices(N_SAMPLES, single_process(rank=r, world_size=WORLD),
                                SHARD_SEED, epoch) for r in range(WORLD)]
        for start in range(0, len(shards[0]), BATCH_PER_RANK):
            b = [i for s in shards for i in s[start:start + BATCH_PER_RANK]]
            losses.append(float(_train_step(model, opt, x[b], y[b])))
    return model.state_dict(), losses


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed missing")
def test_torchrun_two_cpu_ranks_match_single_process(tmp_path):
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "GLOO_SOCKET_IFNAME": "lo",
           "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT"):
        env.pop(k, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
           "--nproc_per_node", str(WORLD), "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), str(Path(__file__).resolve()), str(tmp_path)]
    t0 = time.monotonic()
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - t0
    assert r.returncode == 0, f"torchrun failed ({elapsed:.1f} s):\n{r.stdout}\n{r.stderr}"

    ranks = [torch.load(tmp_path / f"rank{i}.pt", weights_only=True) for i in range(WORLD)]
    # (a) identical parameters on every rank: gradients were averaged, init was broadcast
    for k, v in ranks[0]["params"].items():
        assert torch.equal(v, ranks[1]["params"][k]), k
    # logged losses were reduced: the same on both ranks
    assert ranks[0]["losses"] == ranks[1]["losses"]
    assert [rk["run_dir"] for rk in ranks] == [str(tmp_path)] * WORLD
    # the shards are disjoint and cover the data (N divisible by WORLD: no padding)
    s0, s1 = ranks[0]["shards"]
    assert sorted(s0 + s1) == list(range(N_SAMPLES))

    # (b) equal to one process over the union of the shards with the same effective batch
    ref_params, ref_losses = _single_process_reference()
    assert len(ref_losses) == len(ranks[0]["losses"]) == EPOCHS * N_SAMPLES // (
        WORLD * BATCH_PER_RANK)
    for k, v in ref_params.items():
        torch.testing.assert_close(ranks[0]["params"][k], v, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ranks[0]["losses"], ref_losses, rtol=1e-5, atol=1e-6)
    # training moved the parameters (the comparison is not trivially true)
    init, _ = _model_and_optimizer()
    assert not torch.allclose(init.state_dict()["0.weight"], ref_params["0.weight"])


class TestShardIndices:
    def test_cover_equal_lengths_and_padding(self):
        n, world = 10, 4
        shards = [shard_indices(n, single_process(rank=r, world_size=world), 3, 0)
                  for r in range(world)]
        assert [len(s) for s in shards] == [3] * world
        flat = [i for s in shards for i in s]
        assert set(flat) == set(range(n)) and len(flat) == 12  # 2 padded repeats

    def test_deterministic_per_epoch_and_interleaved(self):
        info = single_process(rank=0, world_size=2)
        a = shard_indices(20, info, seed=5, epoch=1)
        assert a == shard_indices(20, info, seed=5, epoch=1)
        assert a != shard_indices(20, info, seed=5, epoch=2)
        order = shard_indices(20, single_process(), seed=5, epoch=1)
        assert sorted(order) == list(range(20))
        assert a == order[0::2]  # rank r takes positions r, r + world, ...
        assert shard_indices(5, single_process(rank=1, world_size=2), 0, 0,
                             shuffle=False) == [1, 3, 0]

    def test_edge_cases(self):
        assert shard_indices(0, single_process(), 0, 0) == []
        assert shard_indices(1, single_process(rank=2, world_size=3), 0, 0) == [0]
        with pytest.raises(ValueError, match="epoch must be"):
            shard_indices(4, single_process(), 0, -1)


class TestSingleProcessFallback:
    def test_without_torchrun_env(self, monkeypatch):
        for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
            monkeypatch.delenv(k, raising=False)
        info = init_distributed()
        assert info == DistInfo(0, 0, 1, True, torch.device("cpu")) and not info.distributed
        model = nn.Linear(2, 2)
        assert wrap_ddp(model, info) is model and unwrap_model(model) is model
        assert all_reduce_mean(2.5, info) == 2.5
        t = torch.tensor([1.0, 2.0])
        assert torch.equal(all_reduce_mean(t, info), t)
        assert gather_object({"a": 1}, info) == [{"a": 1}]
        assert broadcast_object(7, info) == 7
        barrier(info)
        cleanup(info)

    def test_incomplete_env_and_bad_arguments(self, monkeypatch):
        monkeypatch.setenv("WORLD_SIZE", "2")
        for k in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
            monkeypatch.delenv(k, raising=False)
        with pytest.raises(ValueError, match=r"\['RANK', 'LOCAL_RANK', 'MASTER_ADDR'"):
            init_distributed()
        with pytest.raises(ValueError, match="device must be"):
            init_distributed(device="tpu")
        with pytest.raises(ValueError, match="nccl"):
            init_distributed(backend="nccl", device="cpu")


if __name__ == "__main__":
    _worker(Path(sys.argv[1]))

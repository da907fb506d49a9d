"""Training on several processes with ``DistributedDataParallel`` (beyond the paper).

    torchrun --nproc_per_node=2 -m perceiver_edu train --dataset fashion-mnist      # 2 GPUs, or 2 CPU processes

``torchrun`` starts one process per GPU (or per CPU worker) and tells each, through environment
variables, who it is: ``RANK`` (0 … ``WORLD_SIZE`` - 1 over all machines), ``LOCAL_RANK`` (its
index on this machine) and where the others are (``MASTER_ADDR``/``MASTER_PORT``).  The trainer
(:func:`perceiver_edu.training.trainer.train`) reads them through :func:`setup` and then:

* every process holds a full copy of the model; ``DistributedDataParallel`` averages the gradients
  across processes during ``backward()`` (NCCL between GPUs, gloo between CPU processes);
* each optimizer step's **global** batch of ``batch_size`` examples is the one a single process
  would take, and :func:`shard` gives each rank a disjoint ``batch_size / WORLD_SIZE`` slice of it
  (the job a ``DistributedSampler`` does for a ``DataLoader``).  Averaging the ranks' gradients
  then gives the gradient of the global batch, so N processes follow the loss curve of one
  process up to floating-point rounding: same hyper-parameters, N times the throughput;
* only rank 0 prints, draws the progress bar, writes the metrics log and saves checkpoints; the
  others wait at a barrier so that nobody reads a checkpoint before it is complete.

Nothing here is needed for single-process training: without ``WORLD_SIZE`` > 1, :func:`setup`
returns a one-process :class:`DistInfo` and every helper is a no-op.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Who this process is in a (possibly one-process) training job."""
    rank: int = 0  # global index, 0 … world_size - 1
    world_size: int = 1
    local_rank: int = 0  # index on this machine (picks the GPU)
    local_world_size: int = 1  # processes on this machine (shares the CPU cores)
    backend: str | None = None  # "nccl", "gloo", or None for one process
    owns_group: bool = False  # True when setup() created the process group (and cleanup() ends it)

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that logs, shows progress and writes checkpoints."""
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer (torchrun sets it), got {value!r}") from None


def env_info() -> DistInfo:
    """The job described by torchrun's environment variables (one process when they are absent)."""
    world_size = _env_int("WORLD_SIZE", 1)
    if world_size <= 1:
        return DistInfo()
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    local_world_size = _env_int("LOCAL_WORLD_SIZE", world_size)
    if not 0 <= rank < world_size or not 0 <= local_rank < local_world_size:
        raise ValueError(f"inconsistent torchrun environment: RANK={rank}, LOCAL_RANK={local_rank}, "
                         f"WORLD_SIZE={world_size}, LOCAL_WORLD_SIZE={local_world_size}")
    return DistInfo(rank, world_size, local_rank, local_world_size)


def setup(device: torch.device) -> tuple[DistInfo, torch.device]:
    """Join the job torchrun started (if any) and return ``(info, device for this process)``.

    On CUDA, rank ``LOCAL_RANK`` takes GPU ``LOCAL_RANK`` and the backend is NCCL; on the CPU the
    backend is gloo.  A process group that the caller already initialised is reused.
    """
    info = env_info()
    if not info.distributed:
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            info = DistInfo(dist.get_rank(), dist.get_world_size(), backend=dist.get_backend())
        else:
            return info, device
    if not dist.is_available():
        raise RuntimeError("this PyTorch build has no torch.distributed; train with one process")
    if device.type == "cuda":
        if info.local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"LOCAL_RANK {info.local_rank} needs GPU {info.local_rank}, but only "
                               f"{torch.cuda.device_count()} are visible; use --nproc_per_node <= that number")
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    owns = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        owns = True
    info = DistInfo(dist.get_rank(), dist.get_world_size(), info.local_rank, info.local_world_size,
                    dist.get_backend(), owns)
    return info, device


def cleanup(info: DistInfo) -> None:
    """End the process group if :func:`setup` created it."""
    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def torchrun_command(nproc: int, argv: list[str]) -> tuple[list[str], dict]:
    """The command (and environment) that runs ``python -m perceiver_edu <argv>`` under ``torchrun
    --standalone --nproc_per_node=N``, ``--nproc`` left out (torchrun's own parser would take it for
    its ``--nproc-per-node``); the machine's cores are shared out among the processes."""
    rest = [a for i, a in enumerate(argv)
            if not (a == "--nproc" or a.startswith("--nproc=") or (i > 0 and argv[i - 1] == "--nproc"))]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "perceiver_edu", *rest]
    env = {**os.environ}
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    return cmd, env


def relaunch_with_torchrun(nproc: int, command: str, argv: list[str]) -> int:
    """``python -m perceiver_edu <command> ... --nproc N``: run the same command line again under
    torchrun, in N processes, and return its exit code (``argv`` with or without ``command`` first)."""
    argv = list(argv) if list(argv[:1]) == [command] else [command, *argv]
    cmd, env = torchrun_command(nproc, argv)
    print("running:", " ".join(cmd[1:]), flush=True)
    return subprocess.call(cmd, env=env)


def exit_worker(code: int = 0):
    """End this torchrun worker now, with ``code``, skipping the interpreter's own teardown.

    Once a command has finished (its files written and closed, its process group destroyed),
    Python's exit still destroys torch's C++ state one object at a time, which can abort a worker
    that has succeeded ("terminate called without an active exception", SIGABRT); torchrun then
    reports the whole job as failed.  Nothing left to tear down matters, so the worker flushes its
    output and leaves at once."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def shard(indices: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """This rank's part of a global batch ``indices (B,)``: every ``world_size``-th element,
    starting at ``rank`` (disjoint across ranks, and together all of ``indices``)."""
    if not info.distributed:
        return indices
    if len(indices) % info.world_size:
        raise ValueError(f"a batch of {len(indices)} cannot be split evenly over {info.world_size} processes; "
                         f"use a batch_size that is a multiple of the number of processes")
    return indices[info.rank::info.world_size]


def shard_range(n: int, info: DistInfo) -> torch.Tensor:
    """This rank's indices among ``n`` items (every ``world_size``-th; the last ranks may get one
    fewer when ``n`` is not a multiple of ``world_size``)."""
    return torch.arange(info.rank, n, info.world_size)


def all_reduce_sum(values: list[float], info: DistInfo, device: torch.device) -> list[float]:
    """Sum each of ``values`` over all ranks (identity for one process)."""
    if not info.distributed:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def barrier(info: DistInfo) -> None:
    """Wait until every rank gets here (no-op for one process)."""
    if info.distributed:
        dist.barrier()

"""Data-parallel training: 2 CPU processes with gloo, launched by torchrun, must follow the
one-process run, end with identical weights on both ranks, and resume from their checkpoint."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from perceiver_edu.training import distributed
from perceiver_edu.training.distributed import DistInfo
from perceiver_edu.training.metrics_log import read_metrics
from perceiver_edu.training.trainer import train

sys.path.insert(0, str(Path(__file__).parent))
from ddp_worker import tiny_config, tiny_data  # noqa: E402

WORKER = Path(__file__).parent / "ddp_worker.py"
ROOT = Path(__file__).parent.parent


# --- the pieces, in one process ----------------------------------------------------------------------
def test_shard_splits_a_batch_into_disjoint_equal_parts():
    batch = torch.randperm(12)
    parts = [distributed.shard(batch, DistInfo(rank=r, world_size=3)) for r in range(3)]
    assert all(len(p) == 4 for p in parts)
    assert sorted(torch.cat(parts).tolist()) == sorted(batch.tolist())
    assert torch.equal(distributed.shard(batch, DistInfo()), batch)  # one process: everything
    with pytest.raises(ValueError, match="multiple of the number of processes"):
        distributed.shard(torch.arange(10), DistInfo(rank=0, world_size=3))
    ranges = [distributed.shard_range(10, DistInfo(rank=r, world_size=3)) for r in range(3)]
    assert sorted(torch.cat(ranges).tolist()) == list(range(10))


def test_env_info_reads_torchrun_variables(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert distributed.env_info() == DistInfo()
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    info = distributed.env_info()
    assert (info.rank, info.world_size, info.local_rank, info.local_world_size) == (3, 4, 1, 2)
    assert info.distributed and not info.is_main
    monkeypatch.setenv("RANK", "7")
    with pytest.raises(ValueError, match="inconsistent torchrun environment"):
        distributed.env_info()
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(ValueError, match="RANK must be an integer"):
        distributed.env_info()


def test_batch_size_must_split_over_the_processes(monkeypatch):
    monkeypatch.setattr(distributed, "setup", lambda device: (DistInfo(rank=0, world_size=3), device))
    with pytest.raises(ValueError, match="multiple of the number of processes"):
        train(tiny_config(), progress=False, data=tiny_data())


# --- two real processes ------------------------------------------------------------------------------
def torchrun(out: Path, *args: str, nproc: int = 2) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *args]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def worker(out: Path, *args: str) -> dict:
    torchrun(out, str(WORKER), str(out), *args)
    return {r: (load_file(out / f"rank{r}.safetensors"), json.loads((out / f"rank{r}.losses.json").read_text()))
            for r in (0, 1)}


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp_full")
    return out, worker(out)


@pytest.mark.needs_data("fashion-mnist")
def test_both_ranks_end_with_identical_weights(two_process_run):
    _, ranks = two_process_run
    (w0, r0), (w1, r1) = ranks[0], ranks[1]
    assert r0["step"] == r1["step"] == 12
    assert r0["threads"] == 1  # the two processes share the cores instead of fighting over them
    assert w0.keys() == w1.keys()
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    assert r0["losses"] == r1["losses"]  # the logged loss is the global batch's, the same on both
    assert r0["test_accuracy"] == r1["test_accuracy"]


@pytest.mark.needs_data("fashion-mnist")
def test_two_processes_follow_the_one_process_run(two_process_run):
    out, ranks = two_process_run
    seen = []
    one = train(tiny_config(), progress=False, data=tiny_data(),
                on_step=lambda step, info: seen.append([step, info["loss"]]))
    two = ranks[0][1]["losses"]
    assert [s for s, _ in seen] == [s for s, _ in two] == list(range(1, 13))
    for (_, a), (_, b) in zip(seen, two):
        assert b == pytest.approx(a, rel=1e-4, abs=1e-5)  # the same global batches: rounding only
    weights = ranks[0][0]
    for name, value in one.model.state_dict().items():
        other = weights[name]
        if name.endswith("to_kv.bias"):
            # The key bias adds q·b_k to every score of a query alike, which the softmax ignores: its true
            # gradient is exactly zero, so what it gets is rounding noise, which Adam scales up to lr-sized
            # steps that differ from run to run. Compare the value half only.
            value, other = value.chunk(2)[1], other.chunk(2)[1]
        torch.testing.assert_close(other, value, rtol=1e-3, atol=1e-4, msg=name)
    # the gradient of a half batch is not the gradient of the batch: a broken all-reduce would show
    assert ranks[0][1]["test_accuracy"] == pytest.approx(one.test_accuracy, abs=1 / 64 + 1e-9)
    checkpoint = json.loads((out / "run" / "config.json").read_text())
    assert checkpoint["metadata"]["processes"] == 2 and checkpoint["metadata"]["step"] == 12
    records = read_metrics(out / "run")
    assert [r["step"] for r in records if r["split"] == "test"] == [6, 12]  # one log, written by rank 0


@pytest.mark.needs_data("fashion-mnist")
def test_two_process_run_stops_and_resumes_exactly(two_process_run, tmp_path):
    full_dir, full = two_process_run
    first = worker(tmp_path, "--stop-at", "5")
    assert first[0][1]["step"] == 5
    assert json.loads((tmp_path / "run" / "training_state.json").read_text())["step"] == 5
    resumed = worker(tmp_path, "--resume")
    assert resumed[0][1]["step"] == 12
    assert [s for s, _ in resumed[0][1]["losses"]] == list(range(6, 13))
    assert resumed[0][1]["losses"] == full[0][1]["losses"][5:]
    for name, value in full[0][0].items():
        assert torch.equal(resumed[0][0][name], value), name
        assert torch.equal(resumed[1][0][name], value), name


@pytest.mark.needs_data("fashion-mnist")
def test_train_records_sum_both_processes_across_an_interruption(tmp_path):
    """Without a callback, each process adds up its own loss and hits, and the sums are exchanged only
    when a record is written or a checkpoint saved. The log must still be the one-process run's."""
    one_dir = tmp_path / "one"
    train(tiny_config(), out_dir=one_dir / "run", progress=False, data=tiny_data())
    two_dir = tmp_path / "two"
    worker(two_dir, "--no-callback", "--stop-at", "5")  # mid-window: log_every is 2
    worker(two_dir, "--no-callback", "--resume")
    one = [r for r in read_metrics(one_dir / "run") if r["split"] == "train"]
    two = [r for r in read_metrics(two_dir / "run") if r["split"] == "train"]
    assert [r["step"] for r in two] == [r["step"] for r in one] == [2, 4, 6, 8, 10, 12]
    for a, b in zip(one, two):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4, abs=1e-5), (a, b)
        assert b["acc"] == pytest.approx(a["acc"], abs=1 / 64 + 1e-9), (a, b)  # rounding may flip one


@pytest.mark.needs_data("fashion-mnist")
def test_train_with_nproc_starts_the_processes_and_returns_their_result(tmp_path):
    """`train(config, nproc=2)`: the notebook's way to the 2-process recipe, equal to the 1-process run."""
    config = tiny_config(train_subset=192, test_subset=64)
    one = train(config, progress=False)
    two = train(config, out_dir=tmp_path / "run", progress=False, nproc=2)
    assert two.step == one.step == 12 and two.out_dir == tmp_path / "run"
    assert two.config == config and not two.model.training and two.train_seconds > 0
    assert two.history == read_metrics(tmp_path / "run")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["metadata"]["processes"] == 2
    train_records = [[r for r in result.history if r["split"] == "train"] for result in (one, two)]
    assert [r["step"] for r in train_records[1]] == [r["step"] for r in train_records[0]]
    for a, b in zip(*train_records):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4, abs=1e-5)
    assert two.test_accuracy == pytest.approx(one.test_accuracy, abs=1 / 64 + 1e-9)
    twos = two.model.state_dict()
    for name, value in one.model.state_dict().items():
        if not name.endswith("to_kv.bias"):  # its gradient is rounding noise: see the test above
            torch.testing.assert_close(twos[name], value, rtol=1e-3, atol=1e-4, msg=name)


@pytest.mark.needs_data("fashion-mnist")
def test_train_with_nproc_reports_what_went_wrong(tmp_path):
    with pytest.raises(ValueError, match="pass data=None and on_step=None"):
        train(tiny_config(), progress=False, data=tiny_data(), nproc=2)
    with pytest.raises(ValueError, match="nproc must be >= 1"):
        train(tiny_config(), progress=False, nproc=0)
    with pytest.raises(ValueError, match="batch_size=33 must be a multiple of nproc=2"):
        train(tiny_config(batch_size=33), progress=False, nproc=2)
    with pytest.raises(RuntimeError, match=r"failed \(exit code 1\): FileNotFoundError: --resume: no training checkpoint"):
        train(tiny_config(train_subset=192, test_subset=64), out_dir=tmp_path / "empty", resume=True, progress=False,
              nproc=2)  # what a process raises is what the error says


@pytest.mark.needs_data("fashion-mnist")
def test_a_two_process_checkpoint_resumes_in_one_process(tmp_path):
    worker(tmp_path, "--stop-at", "6")
    seen = []
    result = train(tiny_config(), out_dir=tmp_path / "run", resume=True, progress=False, data=tiny_data(),
                   on_step=lambda step, info: seen.append(step))
    assert seen == list(range(7, 13)) and result.step == 12


@pytest.mark.needs_data("fashion-mnist")
def test_torchrun_launches_the_train_command(tmp_path):
    """The documented command line, end to end: `torchrun ... -m perceiver_edu train`."""
    run_dir = tmp_path / "run"
    done = torchrun(tmp_path, "-m", "perceiver_edu", "train", "--dataset", "fashion-mnist", "--preset", "cpu",
                    "--train-subset", "256", "--test-subset", "128", "--num-latents", "4", "--latent-dim", "16",
                    "--self-heads", "2", "--num-bands", "2", "--epochs", "1", "--batch-size", "64",
                    "--warmup-steps", "1", "--device", "cpu", "--no-progress", "--out", str(run_dir))
    assert done.stdout.count("test accuracy") == 1, done.stdout  # rank 0 alone reports
    assert "2 processes" in done.stdout
    config = json.loads((run_dir / "config.json").read_text())
    assert config["metadata"]["processes"] == 2 and config["metadata"]["step"] == 4


@pytest.mark.needs_data("fashion-mnist")
def test_nproc_flag_relaunches_under_torchrun(tmp_path):
    """`python -m perceiver_edu train --nproc 2` is the same run as `torchrun --nproc_per_node=2 ...`."""
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE")}
    done = subprocess.run(
        [sys.executable, "-m", "perceiver_edu", "train", "--nproc", "2", "--dataset", "fashion-mnist",
         "--preset", "cpu", "--train-subset", "256", "--test-subset", "128", "--num-latents", "4",
         "--latent-dim", "16", "--self-heads", "2", "--num-bands", "2", "--epochs", "1", "--batch-size", "64",
         "--warmup-steps", "1", "--device", "cpu", "--no-progress", "--out", str(run_dir)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "torch.distributed.run --standalone --nproc_per_node=2" in done.stdout
    assert done.stdout.count("test accuracy") == 1 and "2 processes" in done.stdout
    config = json.loads((run_dir / "config.json").read_text())
    assert config["metadata"]["processes"] == 2 and config["metadata"]["step"] == 4


def test_exit_worker_flushes_output_and_exits_with_the_code():
    """Workers leave with os._exit after a successful run: what they printed must not be lost."""
    done = subprocess.run([sys.executable, "-c", "from perceiver_edu.training.distributed import exit_worker; "
                           "import sys; print('result line', end=''); print('warning', end='', file=sys.stderr); "
                           "exit_worker(3)"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"})  # pipes: buffered
    assert done.returncode == 3 and done.stdout == "result line" and done.stderr == "warning"

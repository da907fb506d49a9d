"""The benchmark's configurations really match (no timing is asserted here)."""
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from perceiver_edu.model.params import count_parameters
from perceiver_edu.tools.bench import (BUILDERS, BenchSpec, Result, TrainStep, available, count_flops, format_table,
                                       implementations_for, matmuls_alone, record_matmuls)
from perceiver_edu.tools.bench.implementations import build_textbook

TINY = BenchSpec(image_size=8, num_bands=2, num_latents=4, latent_dim=16, num_cross_attends=3,
                 self_attends_per_block=1, self_heads=2, batch_size=2)


def flops_and_params(spec, name):
    torch.manual_seed(0)
    step = TrainStep(BUILDERS[name](spec), spec, torch.device("cpu"))
    return count_flops(step), count_parameters(step.model, trainable_only=False)


@pytest.mark.parametrize("other", ["lucidrains", "transformers"])
def test_single_structure_matches_other_implementations(other):
    if not available(other):
        pytest.skip(f"{other} not installed (requirements-bench.txt)")
    spec = replace(TINY, structure="single", cross_attention="reference")  # the textbook computation
    ours_flops, ours_params = flops_and_params(spec, "perceiver_edu")
    flops, params = flops_and_params(spec, other)
    assert flops == ours_flops  # same matmuls and attention, forward and backward
    if other == "transformers":
        assert params == ours_params  # same layers, biases included
    else:  # lucidrains: no q/kv biases, 2D more GEGLU biases per MLP
        assert abs(params - ours_params) < 0.05 * ours_params


def test_model_flops_project_inputs_once_per_distinct_cross_attend():
    m, c, d, b = TINY.num_inputs, TINY.input_channels, TINY.latent_dim, TINY.batch_size
    projection = 3 * 2 * b * m * c * 2 * d  # forward + backward (x2) FLOPs of one input key/value projection
    torch.manual_seed(0)
    textbook = count_flops(TrainStep(build_textbook(TINY), TINY, torch.device("cpu")))
    reference, _ = flops_and_params(replace(TINY, cross_attention="reference"), "perceiver_edu")
    assert reference - textbook == (TINY.num_cross_attends - 2) * projection  # the shared one projects once
    if available("lucidrains"):
        theirs, _ = flops_and_params(TINY, "lucidrains")
        assert theirs == reference  # both project the inputs in each of the L cross-attends


def test_transformers_only_in_single_structure_and_table():
    assert "transformers" not in implementations_for(TINY)
    results = [Result("perceiver_edu", "repeat", 10, 2_000_000_000, 100.0, 2**20, 10, [100.0]),
               Result("lucidrains", "repeat", 12, 2_000_000_000, 50.0, 2**21, 10, [50.0])]
    table = format_table(results, matmul_rate=1e11)
    assert "2.00x" in table and "20%" in table and "1.0 MiB" in table
    # % matmul counts the structure's model FLOPs, not what an implementation happens to execute
    folded = Result("perceiver_edu", "repeat", 10, 1_000_000_000, 100.0, 2**20, 10, [100.0], 3_000_000_000, 2e10)
    table = format_table([folded], matmul_rate=1e11)
    assert "30%" in table and "20%" in table and "model FLOPs per step (the % matmul column): repeat 3.000 G" in table


def test_folded_cross_attend_executes_fewer_flops_and_matmuls_are_recorded():
    spec = replace(TINY, structure="single")
    folded, _ = flops_and_params(replace(spec, cross_attention="folded"), "perceiver_edu")
    plain, _ = flops_and_params(replace(spec, cross_attention="reference"), "perceiver_edu")
    m, c, d, b, n = spec.num_inputs, spec.input_channels, spec.latent_dim, spec.batch_size, spec.num_latents
    # no key/value projection (forward + 2 backward products); scores and weighted sum in C, not D, channels;
    # but two small products map the queries into the C input channels and the result back to D.
    # And since x̂ needs no gradient, the backward of the two attention products computes only the
    # gradients of the weights and the queries: 2 products, not 4.
    saved = 3 * 2 * b * m * c * 2 * d + 3 * 2 * 2 * b * n * m * (d - c)
    assert plain - folded == saved - 3 * 2 * 2 * b * n * d * c + 2 * 2 * b * n * m * c
    torch.manual_seed(0)
    step = TrainStep(BUILDERS["perceiver_edu"](spec), spec, torch.device("cpu"))
    calls = record_matmuls(step)
    assert any(name == "addmm" for name, _, _ in calls)  # the linear layers
    mm_flops = sum(count * 2 * t[-2][0][-2] * t[-2][0][-1] * t[-1][0][-1] * (t[-2][0][0] if len(t[-2][0]) == 3 else 1)
                   for (name, t, _), count in calls.items())
    assert 0 < mm_flops < count_flops(step)  # the rest is the attention kernel
    assert matmuls_alone(calls, torch.device("cpu")) > 0


ROOT = Path(__file__).parent.parent


def test_bench_nproc_trains_data_parallel_and_reports_the_whole_step():
    """`bench --nproc 2`: two processes under torchrun print one table, whose FLOPs, parameters and
    samples are those of the whole batch of 64, not of one process's 32."""
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE")}
    done = subprocess.run([sys.executable, "-m", "perceiver_edu", "bench", "--nproc", "2", "--impl", "perceiver_edu",
                           "--rounds", "1", "--steps", "1"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert out.count("dense matmul") == 1 and "processes: 2 x 1 thread(s)" in out  # rank 0 alone reports
    assert "batch 64 (32 per process)" in out
    for structure in ("repeat", "single"):
        row = re.search(rf"^{structure}\s+perceiver_edu\s+([\d,]+)\s+([\d.]+)\s+(\d+)\s+(\d+)%", out, re.M)
        assert row, out
        spec = replace(BenchSpec(), structure=structure)  # one process, the whole batch
        flops, params = flops_and_params(spec, "perceiver_edu")
        assert int(row[1].replace(",", "")) == params
        assert float(row[2]) == pytest.approx(flops / 1e9, abs=1e-3)
        assert int(row[3]) > 0 and 0 < int(row[4]) < 150


@pytest.mark.parametrize("argv, message", [
    (["--nproc", "0"], "--nproc must be >= 1"),
    (["--nproc", "2", "--scaling"], "--scaling runs in one process"),
    (["--nproc", "2", "--batch-size", "63"], "cannot be split over 2 processes"),
])
def test_bench_refuses_bad_process_counts(argv, message):
    from perceiver_edu.__main__ import main
    with pytest.raises(SystemExit, match=message):
        main(["bench", *argv])

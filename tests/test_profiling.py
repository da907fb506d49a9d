import math

import pytest
import torch

from perceiver_edu.tools.profiling import Measurement, fit_power_law, format_bytes, measure, peak_memory, sweep


@pytest.mark.parametrize("n", [64, 512, 1500])
def test_cpu_peak_of_one_tensor_is_its_size(n):
    peak = peak_memory(lambda: torch.empty(n, n, dtype=torch.float32))
    assert peak >= 4 * n * n
    assert peak <= 4 * n * n + 4096  # a few bytes of bookkeeping at most


def test_cpu_peak_counts_tensors_alive_together_not_in_sequence():
    n = 700

    def together():
        a, b = torch.ones(n, n), torch.ones(n, n)  # both live at once
        return (a + b).sum()  # plus the result of a + b: three matrices live

    def in_sequence():
        for _ in range(3):
            torch.ones(n, n).sum()  # each freed before the next is made
    assert peak_memory(together) == pytest.approx(3 * 4 * n * n, rel=0.01)
    assert peak_memory(in_sequence) == pytest.approx(4 * n * n, rel=0.01)


def test_cpu_peak_ignores_what_was_allocated_before():
    big = torch.ones(1000, 1000)
    assert peak_memory(lambda: big.sum()) < 4096


def test_peak_grows_quadratically_with_n():
    sizes = [128, 256, 512, 1024]
    peaks = [peak_memory(lambda n=n: torch.zeros(n, n)) for n in sizes]
    assert all(a < b for a, b in zip(peaks, peaks[1:]))
    assert fit_power_law(sizes, peaks)[0] == pytest.approx(2.0, abs=0.05)


def test_measure_returns_median_of_repeats():
    calls = []
    m = measure(lambda: calls.append(1), repeats=5, warmup=2, memory=False)
    assert len(calls) == 7  # warm-up calls + timed calls (no extra call without memory)
    assert m.repeats == 5 and len(m.times) == 5 and m.peak_bytes is None
    assert min(m.times) <= m.seconds <= max(m.times)
    measure(lambda: calls.append(1), repeats=2, warmup=0)
    assert len(calls) == 7 + 3  # + one profiled call for the peak


def test_measure_rejects_bad_arguments():
    with pytest.raises(ValueError, match="repeats"):
        measure(lambda: None, repeats=0)
    with pytest.raises(ValueError, match="cpu' or 'cuda"):
        peak_memory(lambda: None, device="meta")


def test_sweep_stops_over_budget_and_fits_slopes():
    s = sweep(lambda n: (lambda: torch.zeros(n, n)), [256, 128, 512], repeats=1, progress=False)
    assert s.sizes == [128, 256, 512] and s.skipped == []
    assert s.slope("peak_bytes") == pytest.approx(2.0, abs=0.01)
    assert s.extrapolate(1024, "peak_bytes", exponent=2) == pytest.approx(4 * 1024**2, rel=0.01)
    assert "512" in s.table()
    stopped = sweep(lambda n: (lambda: torch.zeros(n)), [1, 2, 3], repeats=1, max_seconds=0.0, progress=False)
    assert stopped.sizes == [1] and stopped.skipped == [2, 3]


def test_fit_power_law_recovers_exponent():
    xs = [1, 2, 4, 8, 16]
    exponent, coef = fit_power_law(xs, [3 * x**1.5 for x in xs])
    assert exponent == pytest.approx(1.5) and coef == pytest.approx(3)
    with pytest.raises(ValueError):
        fit_power_law([1], [1])


def test_formatting():
    assert format_bytes(3 * 2**20) == "3.0 MiB"
    assert format_bytes(100) == "100 B"
    assert "ms" in str(Measurement(0.0123, 2**20))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_peak_of_one_tensor():
    n = 2048
    peak = peak_memory(lambda: torch.empty(n, n, device="cuda"), device="cuda")
    assert 4 * n * n <= peak <= 4 * n * n + 2**20
    assert math.isfinite(measure(lambda: torch.ones(n, device="cuda"), device="cuda").seconds)


def test_torch_threads_sets_and_restores():
    from perceiver_edu.tools.profiling import torch_threads
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="num_threads"):
        with torch_threads(0):
            pass
    seen = []
    sweep(lambda n: (lambda: seen.append(torch.get_num_threads())), [1], repeats=1, memory=False,
          progress=False, num_threads=1)
    assert set(seen) == {1} and torch.get_num_threads() == before

"""Measure what a computation costs: wall time and peak memory, on the CPU or a CUDA GPU (ch. 1, 2, 13).

    m = measure(lambda: attention(q, k, v), repeats=5)
    print(m)                       # "12.3 ms, peak 64.0 MiB (cpu, median of 5)"
    s = sweep(lambda M: make_call(M), sizes=[256, 512, 1024])
    print(s.table());  s.slope("seconds")      # ~2 for self-attention

* **Time** is the median wall time of ``repeats`` calls after ``warmup`` calls (the first call of
  an operation pays one-off costs: allocator growth, kernel selection, lazy initialisation).
  On CUDA the device is synchronised before the clock is read, since kernels run asynchronously.
* **Peak memory** is the largest number of bytes the call had allocated *at the same time*, on
  top of what was already live before it (its inputs are not counted; its output is).
  On CUDA this is ``torch.cuda.max_memory_allocated`` minus the bytes allocated before the call.
  On the CPU it is measured, not estimated: ``torch.profiler`` records every allocation and free
  of PyTorch's CPU allocator (``profile_memory=True``); we replay those events in time order and
  keep the maximum of the running total of live bytes.  Only tensor memory is counted (not the
  Python interpreter, not caches of the BLAS library).
  Peak memory is taken in one extra call, separate from the timed ones, because profiling slows
  a call down.
"""
from __future__ import annotations

import contextlib
import math
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

__all__ = ["Measurement", "Sweep", "measure", "time_call", "peak_memory", "sweep", "fit_power_law",
           "format_bytes", "format_seconds", "hardware_summary", "torch_threads"]


@dataclass(frozen=True)
class Measurement:
    """The cost of one call: median ``seconds`` and ``peak_bytes`` allocated (see module docs)."""

    seconds: float
    peak_bytes: int | None
    device: str = "cpu"
    repeats: int = 1
    times: tuple[float, ...] = field(default=(), repr=False)  # every timed call, in seconds

    @property
    def peak_mib(self) -> float | None:
        return None if self.peak_bytes is None else self.peak_bytes / 2**20

    def __str__(self) -> str:
        peak = "" if self.peak_bytes is None else f", peak {format_bytes(self.peak_bytes)}"
        return f"{format_seconds(self.seconds)}{peak} ({self.device}, median of {self.repeats})"


def format_seconds(seconds: float) -> str:
    """``0.0123`` -> ``"12.3 ms"``."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def format_bytes(n: float) -> str:
    """``3 * 2**20`` -> ``"3.0 MiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


@contextlib.contextmanager
def torch_threads(num_threads: int | None):
    """Run the block with ``num_threads`` intra-op CPU threads (``None``: leave the setting alone).

    On a small CPU shared with other work, one thread gives steadier timings: with several, each
    parallel operation waits for its slowest thread, and a descheduled thread costs milliseconds.
    """
    if num_threads is None:
        yield
        return
    if num_threads < 1:
        raise ValueError(f"num_threads must be >= 1 or None, got {num_threads}")
    before = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], repeats: int = 5, warmup: int = 1,
              device: str | torch.device = "cpu") -> list[float]:
    """Wall times in seconds of ``repeats`` calls of ``fn()``, after ``warmup`` untimed calls."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    device = torch.device(device)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return times


@contextlib.contextmanager
def _quiet_stderr():
    """Silence C-level writes to stderr (the profiler logs a line when it starts and stops)."""
    try:
        fd = os.dup(2)
    except OSError:  # no real stderr: nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(fd, 2)
        os.close(fd)


def _cpu_peak_bytes(fn: Callable[[], object]) -> int:
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events()
              if e.name() == "[memory]" and e.device_type() == DeviceType.CPU]
    events.sort(key=lambda e: e.start_ns())
    live = peak = 0
    for e in events:  # nbytes > 0: an allocation; < 0: a free
        live += e.nbytes()
        peak = max(peak, live)
    return peak


def peak_memory(fn: Callable[[], object], device: str | torch.device = "cpu") -> int:
    """Peak bytes allocated by one call of ``fn()`` on ``device``, above what was live before it."""
    device = torch.device(device)
    if device.type == "cuda":
        _sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        _sync(device)
        return torch.cuda.max_memory_allocated(device) - before
    if device.type == "cpu":
        return _cpu_peak_bytes(fn)
    raise ValueError(f"peak memory can be measured on 'cpu' or 'cuda', not {device.type!r}")


def measure(fn: Callable[[], object], repeats: int = 5, warmup: int = 1,
            device: str | torch.device = "cpu", *, memory: bool = True) -> Measurement:
    """Median wall time of ``fn()`` over ``repeats`` calls and (if ``memory``) its peak memory.

    ``device`` is where ``fn`` computes (used to synchronise CUDA and to read its memory counter).
    Wrap the call in ``torch.no_grad()`` yourself if you measure inference.
    """
    device = torch.device(device)
    times = time_call(fn, repeats=repeats, warmup=warmup, device=device)
    peak = peak_memory(fn, device) if memory else None
    return Measurement(statistics.median(times), peak, str(device), repeats, tuple(times))


@dataclass
class Sweep:
    """Measurements of one computation at growing sizes (see :func:`sweep`)."""

    sizes: list[int]
    measurements: list[Measurement]
    skipped: list[int] = field(default_factory=list)  # sizes not run: over the time budget

    @property
    def seconds(self) -> list[float]:
        return [m.seconds for m in self.measurements]

    @property
    def peak_bytes(self) -> list[int | None]:
        return [m.peak_bytes for m in self.measurements]

    def slope(self, what: str = "seconds", last: int | None = None) -> float:
        """Exponent p of ``what ∝ size**p`` fitted on the ``last`` sizes (all by default)."""
        last = last or len(self.sizes)
        return fit_power_law(self.sizes[-last:], getattr(self, what)[-last:])[0]

    def extrapolate(self, size: float, what: str = "seconds", last: int = 3, exponent: float | None = None) -> float:
        """``what`` at ``size``, from a power law through the ``last`` measured sizes.

        With ``exponent`` given (e.g. 2 for self-attention) only the prefactor is fitted.
        """
        xs, ys = self.sizes[-last:], getattr(self, what)[-last:]
        if exponent is None:
            exponent, coef = fit_power_law(xs, ys)
        else:
            coef = math.exp(statistics.mean(math.log(y) - exponent * math.log(x) for x, y in zip(xs, ys)))
        return coef * size ** exponent

    def table(self, size_name: str = "size") -> str:
        """A plain-text table: size, median time, peak memory."""
        rows = [f"{size_name:>10}  {'time':>10}  {'peak memory':>12}"]
        for n, m in zip(self.sizes, self.measurements):
            peak = "-" if m.peak_bytes is None else format_bytes(m.peak_bytes)
            rows.append(f"{n:>10,}  {format_seconds(m.seconds):>10}  {peak:>12}")
        rows += [f"{n:>10,}  {'skipped (over the time budget)':>24}" for n in self.skipped]
        return "\n".join(rows)


def sweep(make_fn: Callable[[int], Callable[[], object]], sizes: Sequence[int], repeats: int = 3,
          warmup: int = 1, device: str | torch.device = "cpu", *, memory: bool = True,
          max_seconds: float | None = None, progress: bool = True, desc: str = "sizes",
          num_threads: int | None = None) -> Sweep:
    """Measure ``make_fn(size)()`` for each size in increasing order.

    ``make_fn(size)`` builds the inputs and returns the zero-argument call to measure, so that
    building inputs is not timed.  When one call takes longer than ``max_seconds``, the larger
    sizes are skipped (listed in ``Sweep.skipped``): a sweep of an O(M^2) computation stops itself
    before it becomes unaffordable.  ``num_threads`` sets the CPU threads for the sweep (see
    :func:`torch_threads`).
    """
    from tqdm.auto import tqdm

    sizes = sorted(int(s) for s in sizes)
    done, results, skipped = [], [], []
    for i, size in enumerate(tqdm(sizes, desc=desc, disable=not progress, leave=False)):
        fn = make_fn(size)
        with torch_threads(num_threads):
            m = measure(fn, repeats=repeats, warmup=warmup, device=device, memory=memory)
        del fn
        done.append(size)
        results.append(m)
        if max_seconds is not None and m.seconds > max_seconds:
            skipped = sizes[i + 1:]
            break
    return Sweep(done, results, skipped)


def fit_power_law(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Least-squares fit of ``y = coef * x**exponent`` in log-log space; returns (exponent, coef)."""
    if len(xs) != len(ys) or len(xs) < 2:
        raise ValueError(f"need at least two (x, y) pairs of equal length, got {len(xs)} and {len(ys)}")
    if min(xs) <= 0 or min(ys) <= 0:
        raise ValueError("a power law is fitted on positive values only")
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = statistics.mean(lx), statistics.mean(ly)
    exponent = sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)
    return exponent, math.exp(my - exponent * mx)


def hardware_summary(device: str | torch.device = "cpu", num_threads: int | None = None) -> str:
    """One line saying what the numbers were measured on (``num_threads``: the threads used, if set)."""
    device = torch.device(device)
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"{props.name} ({props.total_memory / 2**30:.0f} GiB), torch {torch.__version__}"
    cpu = platform.processor() or platform.machine()
    return (f"CPU {cpu}, {os.cpu_count()} cores visible, {num_threads or torch.get_num_threads()} torch thread(s), "
            f"torch {torch.__version__}")

"""Benchmark: training-step throughput, FLOPs and peak memory against two other implementations.

    python -m perceiver_edu bench                 # the comparison table (+ plot in runs/bench/)
    python -m perceiver_edu bench --scaling       # memory and time of a training step vs input size M
    python -m perceiver_edu bench --nproc 2       # the table, each model trained data parallel in 2 processes

Three implementations of the same classifier, configured to be as identical as their designs allow
(the script prints parameter counts and FLOPs side by side so you can check):

* ``perceiver_edu``  this package's :class:`~perceiver_edu.inputs.images.ImagePerceiver`;
* ``lucidrains``     ``perceiver_pytorch.Perceiver`` (PyPI ``perceiver-pytorch``);
* ``transformers``   Hugging Face's ``PerceiverModel`` with its pixel + Fourier preprocessor.

The two others are optional (``pip install -r requirements-bench.txt``); a missing one is skipped.
Their designs differ, so two model *structures* are compared:

* ``repeat``: the paper's classifier: ``L`` cross-attends, each followed by ``S`` self-attention
  layers, weights shared after the first repeat.  perceiver_edu vs lucidrains (transformers'
  PerceiverModel has a single cross-attend and cannot express it).
* ``single``: one cross-attend followed by ``L*S`` self-attention layers, nothing shared: all three.

    implementations.py  BenchSpec, the three builders and how they were matched
    measure.py          a training step; its FLOPs, its matrix products, the dense matmul rate
    compare.py          the comparison table (what its columns mean)
    scaling.py          memory and time against the input size M, and the plot
    cli.py              the ``bench`` command
"""
from .compare import Result, compare, format_table
from .implementations import BUILDERS, IMPLEMENTATIONS, MATCHING_NOTES, BenchSpec, available, implementations_for
from .measure import TrainStep, count_flops, device_matmul_rate, matmuls_alone, record_matmuls, time_steps
from .scaling import SCALING_SIDES, ScalingPoint, format_scaling, scaling

__all__ = ["BenchSpec", "BUILDERS", "IMPLEMENTATIONS", "MATCHING_NOTES", "available", "implementations_for",
           "TrainStep", "count_flops", "device_matmul_rate", "matmuls_alone", "record_matmuls",
           "time_steps", "Result", "compare", "format_table", "SCALING_SIDES", "ScalingPoint", "scaling",
           "format_scaling"]

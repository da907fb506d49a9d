"""Training an image Perceiver: ``train(config)`` and its loop (chapter 5).

    result = train(preset("cpu"), "runs/fmnist")             # from a notebook
    python -m perceiver_edu train --dataset fashion-mnist      # the same run from the command line (cli.py)

What the trainer does, and why:

* **AdamW** with a linear **warm-up** then **cosine decay** of the learning rate
  (:func:`~.schedule.lr_at`), and gradient-norm **clipping**: attention models are unstable without
  the first and the last.
* **Reproducible**: every epoch's shuffle and every step's augmentation are functions of the seed
  and the step (:mod:`.schedule`), so the same seed gives the same loss curve on a CPU.
* **Resumable**: a checkpoint (weights + optimizer + step, safetensors + JSON, written atomically)
  at the end of every epoch, every ``save_every`` steps, at the end and on Ctrl-C; a resumed run
  takes exactly the steps the interrupted one would have taken (:mod:`.resume`).
* **CUDA when present**: bf16 autocast, the dataset staged once on the GPU from pinned memory
  with non-blocking copies, optionally ``torch.compile``; CPU otherwise.
* **Data-parallel** when started by torchrun, or with ``nproc=N`` (:mod:`.distributed`, :mod:`.launch`).
* **Metrics log**: one JSON object per line in ``<out>/metrics.jsonl`` (:mod:`.metrics_log`), which
  :mod:`perceiver_edu.plots.training` plots.

The configuration is :mod:`.config`; test loss and accuracy come from :mod:`.evaluation`, which
:mod:`.fit` (the model-agnostic loop of chapters 7-10) shares.
"""
from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import distributed
from .config import TrainConfig, preset
from .evaluation import accuracy, autocast, evaluate, evaluate_sharded
from .launch import train_in_processes
from .metrics_log import MetricsLog
from .checkpoint import load_weights
from .resume import load_run, save_run
from .schedule import epoch_order, lr_at, step_generator
from ..data import ImageDataset, load_dataset
from ..inputs.images import ImagePerceiver, ImagePreprocess
from ..model.perceiver import PerceiverConfig
from ..settings import get_device


@dataclass
class TrainResult:
    model: ImagePerceiver  # the trained model, in eval mode, on the training device
    config: TrainConfig
    out_dir: Path | None
    step: int  # optimizer steps taken in all (resumed runs included)
    test_accuracy: float
    test_loss: float
    train_seconds: float  # wall time of the run's training steps, all sittings (--resume) together; no evaluation
    history: list = field(default_factory=list)  # the metrics-log records


# --- The model, the data and its augmentation ------------------------------------------------------

def build_model(config: TrainConfig, train_set: ImageDataset | None = None) -> ImagePerceiver:
    """The :class:`ImagePerceiver` described by ``config``; pixel mean/std from ``train_set``."""
    mean, std = 0.0, 1.0
    if train_set is not None:  # rounded so that config.json stays readable
        mean, std = round(train_set.images.mean().item(), 4), round(train_set.images.std().item(), 4)
    pre = ImagePreprocess(image_shape=tuple(train_set.images.shape[1:]) if train_set is not None else (1, 28, 28),
                          num_bands=config.num_bands, max_freq=config.max_freq, mean=mean, std=std)
    model_config = PerceiverConfig(
        input_channels=pre.byte_channels, num_classes=10 if train_set is None else len(train_set.classes),
        num_latents=config.num_latents, latent_dim=config.latent_dim, num_cross_attends=config.num_cross_attends,
        self_attends_per_block=config.self_attends_per_block, self_heads=config.self_heads,
        cross_heads=config.cross_heads, widening=config.widening)
    return ImagePerceiver(model_config, pre)


def load_data(config: TrainConfig) -> tuple[ImageDataset, ImageDataset]:
    """``(train, test)`` datasets of ``config``, subsets if asked (a fixed subset for a given seed)."""
    train_set, test_set = load_dataset(config.dataset, "train"), load_dataset(config.dataset, "test")
    if config.train_subset:
        train_set = train_set.subset(config.train_subset, seed=config.seed)
    if config.test_subset:
        test_set = test_set.subset(config.test_subset, seed=config.seed)
    return train_set, test_set


def random_translate(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image ``(B, C, H, W)`` by its own random offset in [-max_shift, max_shift]
    pixels, filling with zeros (pad, then crop back to H x W)."""
    if max_shift == 0:
        return images
    b, c, h, w = images.shape
    padded = F.pad(images, (max_shift,) * 4)  # (B, C, H + 2s, W + 2s)
    offsets = torch.randint(0, 2 * max_shift + 1, (2, b), generator=generator).to(images.device)
    rows = offsets[0][:, None] + torch.arange(h, device=images.device)  # (B, H)
    cols = offsets[1][:, None] + torch.arange(w, device=images.device)  # (B, W)
    batch = torch.arange(b, device=images.device)[:, None, None]
    crops = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return crops.permute(0, 3, 1, 2).contiguous()


# --- train() ---------------------------------------------------------------------------------------

def train(config: TrainConfig, out_dir: str | Path | None = None, *, resume: bool = False, progress: bool = True,
          on_step: Callable[[int, dict], None] | None = None, data=None,
          stop_at_step: int | None = None, nproc: int | None = None) -> TrainResult:
    """Train an image Perceiver as ``config`` says; return the trained model and its metrics.

    ``out_dir``: where checkpoints and ``metrics.jsonl`` go (``None``: nothing is written).
    ``resume``: continue the run saved in ``out_dir`` (same config required) from its last step.
    ``on_step(step, info)``: called after every optimizer step with ``info["loss"]`` (this step's)
    and ``info["log"]`` (the metrics record written at this step, or ``None``).
    ``data``: ``(train, test)`` datasets to use instead of loading ``config.dataset``.
    ``stop_at_step``: stop (with a checkpoint) once ``stop_at_step`` optimizer steps are done, as
    if interrupted; ``resume=True`` later continues the run (training in sessions).
    Ctrl-C (``KeyboardInterrupt``) saves a checkpoint, then is raised again.

    Started by ``torchrun --nproc_per_node=N``, the run is data-parallel over N processes
    (:mod:`perceiver_edu.training.distributed`): the same global batches and hyper-parameters, each process
    computing on ``batch_size / N`` of every batch; rank 0 alone logs and writes checkpoints.
    ``nproc=N`` starts those N processes from here (the command line's ``--nproc N``) and reads the
    result back from ``out_dir`` (a temporary directory when ``None``).  On a 2-core CPU, ``nproc=2``
    trains the ``"cpu"`` preset about 1.8x faster than one process.  The new processes load
    ``config.dataset`` themselves and cannot call back, so ``data`` and ``on_step`` must be ``None``.
    """
    if nproc is not None and nproc < 1:
        raise ValueError(f"nproc must be >= 1, got {nproc}")
    if stop_at_step is not None and stop_at_step < 1:
        raise ValueError(f"stop_at_step must be >= 1, got {stop_at_step}")
    if nproc is not None and nproc > 1 and not distributed.env_info().distributed:
        if data is not None or on_step is not None:
            raise ValueError("train(nproc=...) runs in new processes, which load config.dataset themselves and "
                             "cannot call back: pass data=None and on_step=None (config.train_subset / test_subset "
                             "pick a subset)")
        model, history = train_in_processes(config, nproc, out_dir, resume=resume, progress=progress,
                                            stop_at_step=stop_at_step)
        test = [r for r in history if r["split"] == "test"][-1]
        return TrainResult(model=model, config=config, out_dir=Path(out_dir) if out_dir is not None else None,
                           step=int(model.metadata["step"]), test_accuracy=test["acc"], test_loss=test["loss"],
                           train_seconds=float(model.metadata["train_seconds"]), history=history)
    info, device = distributed.setup(get_device(config.device))
    try:
        return _train(config, Path(out_dir) if out_dir is not None else None, info, device, resume=resume,
                      progress=progress, on_step=on_step, data=data, stop_at_step=stop_at_step)
    finally:
        distributed.cleanup(info)


def _train(config: TrainConfig, out_dir: Path | None, info: distributed.DistInfo, device: torch.device, *,
           resume: bool, progress: bool, on_step, data, stop_at_step: int | None) -> TrainResult:
    """The loop of one process: a step, then the record, evaluation and checkpoint that are due."""
    _set_threads(config, info, device)
    train_set, test_set = data if data is not None else load_data(config)
    run = _start_run(config, train_set, test_set, out_dir, info, device, resume=resume)
    images, labels = _stage(train_set, device)
    step_model = _step_model(run.model, config, info, device)
    bar = tqdm(total=run.total_steps, initial=run.step, desc=f"train {config.dataset}",
               disable=not progress or not info.is_main, unit="step", dynamic_ncols=True)
    last_eval = None
    run.model.train()
    run.clock.start()
    try:
        while run.step < run.total_steps:
            x, y = _batch(images, labels, config, run.step, run.steps_per_epoch, info)
            logits, loss, grad_norm = _optimizer_step(run, step_model, x, y)
            run.step += 1
            mine = [loss.item() * len(y), (logits.argmax(-1) == y).sum().item(), len(y)]
            run.add_to_window(mine)
            loss_value = None
            if on_step is not None or not info.distributed:  # the global batch's loss, this step
                loss_value = run.global_loss(mine)
            record = run.log_train(grad_norm) if run.train_record_due() else None
            if record is not None:
                bar.set_postfix(loss=f"{record['loss']:.3f}", acc=f"{record['acc']:.3f}")
            bar.update(1)
            if on_step is not None:
                on_step(run.step, {"loss": loss_value, "log": record})

            if run.evaluation_due():
                with run.clock.paused():
                    last_eval = run.evaluate()
                bar.set_postfix(test_acc=f"{last_eval['acc']:.3f}")
            stopping = stop_at_step is not None and stop_at_step <= run.step < run.total_steps
            reason = run.checkpoint_due(stopping=stopping)
            if reason is not None:
                run.save(reason)
            if stopping:
                break
    except KeyboardInterrupt:
        bar.close()
        run.save("interrupted", wait=False)  # the other processes may be gone already
        where = f"; resume with --resume --out {out_dir}" if out_dir is not None else ""
        print(f"\ninterrupted at step {run.step}/{run.total_steps}: checkpoint saved{where}", file=sys.stderr)
        raise
    run.clock.stop()
    bar.close()
    if last_eval is None or last_eval["step"] != run.step:
        last_eval = run.evaluate()
    if out_dir is not None and run.step == run.total_steps:
        run.save("finished")
    run.model.eval()
    return TrainResult(model=run.model, config=config, out_dir=out_dir, step=run.step,
                       test_accuracy=last_eval["acc"], test_loss=last_eval["loss"], train_seconds=run.clock.seconds,
                       history=run.log.records)


# --- The run's state and what every process does with it --------------------------------------------

class _Stopwatch:
    """The run's training time: ``done`` seconds from earlier sittings plus the intervals between
    ``start()`` and ``stop()``."""

    def __init__(self, done: float = 0.0):
        self._done, self._since = done, None

    @property
    def seconds(self) -> float:
        return self._done + (0.0 if self._since is None else time.perf_counter() - self._since)

    def start(self) -> None:
        self._since = time.perf_counter()

    def stop(self) -> None:
        self._done, self._since = self.seconds, None

    @contextlib.contextmanager
    def paused(self):
        self.stop()
        yield
        self.start()


@dataclass
class _Run:
    """A run in progress.  Its methods that sum over the processes (``global_*``, ``log_train``,
    ``evaluate``, ``save``) are collectives: every process calls them at the same steps."""
    config: TrainConfig
    model: ImagePerceiver
    optimizer: torch.optim.Optimizer
    test_set: ImageDataset
    info: distributed.DistInfo
    device: torch.device
    out_dir: Path | None
    steps_per_epoch: int
    step: int
    log: MetricsLog
    # This process's (loss sum, correct, count) since the last train record: summed over the processes
    # only when a record is written or a checkpoint saved, not at every step.
    window: list[float]
    clock: _Stopwatch = field(default_factory=_Stopwatch)

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.config.epochs

    @property
    def epoch(self) -> float:
        return self.step / self.steps_per_epoch

    @property
    def amp(self) -> bool:
        return self.config.amp and self.device.type == "cuda"

    def add_to_window(self, sums: list[float]) -> None:
        self.window = [a + b for a, b in zip(self.window, sums)]

    def global_window(self) -> list[float]:
        return distributed.all_reduce_sum(self.window, self.info, self.device)

    def global_loss(self, sums: list[float]) -> float:
        """The loss of the global batch whose share of this process gave ``sums``."""
        loss_sum, _, count = distributed.all_reduce_sum(sums, self.info, self.device)
        loss = loss_sum / count
        _check_finite(loss, self.step, self.config)
        return loss

    def train_record_due(self) -> bool:
        return self.step % self.config.log_every == 0 or self.step == self.total_steps

    def log_train(self, grad_norm: torch.Tensor | None) -> dict:
        """Log the window's loss and accuracy over all processes, and start a new window."""
        window_loss, window_correct, window_count = self.global_window()
        _check_finite(window_loss, self.step, self.config)  # every process sees the same sums and stops
        record = {"split": "train", "step": self.step, "epoch": self.epoch,
                  "loss": window_loss / window_count, "acc": window_correct / window_count,
                  "lr": self.optimizer.param_groups[0]["lr"],
                  "grad_norm": None if grad_norm is None else float(grad_norm)}
        self.log.append(record)
        self.window = [0.0, 0.0, 0.0]
        return record

    def evaluation_due(self) -> bool:
        every = self.config.eval_every or self.steps_per_epoch
        return self.step % every == 0

    def evaluate(self) -> dict:
        """Test loss and accuracy, logged; ``"step"``: when they were measured."""
        result = evaluate_sharded(self.model, self.test_set, self.info, self.device, self.config.eval_batch_size,
                                  amp=self.amp)
        self.log.append({"split": "test", "step": self.step, "epoch": self.epoch, "loss": result["loss"],
                         "acc": result["acc"]})
        return {**result, "step": self.step}

    def checkpoint_due(self, *, stopping: bool) -> str | None:
        """Why a checkpoint is due at this step, or ``None``."""
        if self.step % self.steps_per_epoch == 0:
            return "epoch end"
        if stopping:
            return "stop_at_step"
        if self.config.save_every and self.step % self.config.save_every == 0:
            return "save_every"
        return None

    def save(self, reason: str, *, wait: bool = True) -> None:
        """Write the model and training state (rank 0); ``wait``: then wait for it on every process."""
        if self.out_dir is None:
            return
        # The log window's sums over every process (a collective: all of them save together).  After
        # Ctrl-C the others may be gone: rank 0's own sums stand in (a record is their ratio).
        window = self.global_window() if wait else self.window
        if self.info.is_main:
            meta = {"step": self.step, "epochs_done": self.epoch, "dataset": self.config.dataset,
                    "train_config": self.config.to_dict(), "saved_because": reason,
                    "processes": self.info.world_size, "train_seconds": round(self.clock.seconds, 3)}
            save_run(self.out_dir, self.model, self.optimizer, self.config, step=self.step, log_window=window,
                     metadata=meta)
        if wait:
            distributed.barrier(self.info)  # nobody reads a checkpoint that rank 0 is still writing


def _start_run(config: TrainConfig, train_set: ImageDataset, test_set: ImageDataset, out_dir: Path | None,
               info: distributed.DistInfo, device: torch.device, *, resume: bool) -> _Run:
    """A new model and optimizer, or those saved in ``out_dir`` when resuming, on ``device``."""
    torch.manual_seed(config.seed)  # model initialisation
    model = build_model(config, train_set)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = len(train_set) // config.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"batch_size={config.batch_size} is larger than the training set ({len(train_set)})")
    if config.batch_size % info.world_size:
        raise ValueError(f"batch_size={config.batch_size} must be a multiple of the number of processes "
                         f"({info.world_size}): each takes an equal share of every batch")
    step, window, seconds = 0, [0.0, 0.0, 0.0], 0.0
    if resume:
        step, window, seconds = load_run(out_dir, config, model, optimizer)
    elif config.init_from is not None:  # fine-tuning: the weights only; the model's config must be the same
        load_weights(model, config.init_from)
    log = MetricsLog(out_dir, writer=info.is_main, resume_step=step if resume else None)
    if not info.is_main:  # the saved window holds the global sums: rank 0 carries them on, the others start at 0
        window = [0.0, 0.0, 0.0]
    model.to(device)
    for state in optimizer.state.values():  # after load_state_dict the moments are on the CPU
        for k, v in state.items():
            if isinstance(v, torch.Tensor) and k != "step":
                state[k] = v.to(device)
    return _Run(config=config, model=model, optimizer=optimizer, test_set=test_set, info=info, device=device,
                out_dir=out_dir, steps_per_epoch=steps_per_epoch, step=step, log=log, window=window,
                clock=_Stopwatch(seconds))


# --- The pieces of a step ----------------------------------------------------------------------------

def _set_threads(config: TrainConfig, info: distributed.DistInfo, device: torch.device) -> None:
    """``config.num_threads`` CPU threads, shared out among the processes of a job on one machine."""
    threads = config.num_threads
    if info.distributed and device.type == "cpu":  # the processes on one machine share its cores
        threads = max(1, (threads or os.cpu_count() or 1) // info.local_world_size)
    if threads:
        torch.set_num_threads(threads)


def _stage(dataset: ImageDataset, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The training images ``(N, C, H, W)`` and labels ``(N,)`` on ``device``, copied there once
    (on CUDA from pinned memory, asynchronously)."""
    if device.type != "cuda":
        return dataset.images, dataset.labels
    return (dataset.images.pin_memory().to(device, non_blocking=True),
            dataset.labels.pin_memory().to(device, non_blocking=True))


def _step_model(model: ImagePerceiver, config: TrainConfig, info: distributed.DistInfo,
                device: torch.device) -> torch.nn.Module:
    """What the steps call: ``model``, wrapped in DDP in a data-parallel job (which averages the
    gradients over the processes during ``backward()``), compiled when ``config.compile``."""
    step_model = model
    if info.distributed:
        step_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    if config.compile:
        step_model = torch.compile(step_model)
    return step_model


def _batch(images: torch.Tensor, labels: torch.Tensor, config: TrainConfig, step: int, steps_per_epoch: int,
           info: distributed.DistInfo) -> tuple[torch.Tensor, torch.Tensor]:
    """This process's share of ``step``'s global batch: images ``(B, C, H, W)`` (translated when
    ``config.augment``) and labels ``(B,)``."""
    epoch, index = divmod(step, steps_per_epoch)
    order = epoch_order(len(labels), config.seed, epoch)
    batch_idx = order[index * config.batch_size:(index + 1) * config.batch_size]
    x = images[batch_idx.to(images.device)]
    y = labels[batch_idx.to(labels.device)]
    if config.augment:
        x = random_translate(x, config.max_shift, step_generator(config.seed, step))
    if info.distributed:
        mine = distributed.shard(torch.arange(len(y), device=y.device), info)
        x, y = x[mine], y[mine]
    return x, y


def _optimizer_step(run: _Run, step_model: torch.nn.Module, x: torch.Tensor,
                    y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """One AdamW step on ``x``, ``y`` at the scheduled learning rate: ``(logits (B, classes), loss,
    gradient norm before clipping or None)``."""
    c = run.config
    for group in run.optimizer.param_groups:
        group["lr"] = lr_at(run.step, run.total_steps, c.lr, c.warmup_steps, c.min_lr)
    with autocast(run.device, enabled=run.amp):
        logits = step_model(x)
        loss = F.cross_entropy(logits.float(), y)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = (torch.nn.utils.clip_grad_norm_(run.model.parameters(), c.grad_clip) if c.grad_clip > 0 else None)
    run.optimizer.step()
    return logits, loss, grad_norm


def _check_finite(loss: float, step: int, config: TrainConfig) -> None:
    if not math.isfinite(loss):
        raise FloatingPointError(f"the training loss became {loss} by step {step}; lower the learning rate "
                                 f"(lr={config.lr}) or keep gradient clipping on")


# Chapter 5 imports its names from here.
__all__ = ["TrainConfig", "TrainResult", "accuracy", "build_model", "evaluate", "load_data", "lr_at", "preset",
           "random_translate", "train"]

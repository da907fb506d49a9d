"""Chapter 5: a live training view: curves that grow while the model trains, stoppable, resumable.

The four lines of a training step (forward, loss, backward, update) run in a background thread, a
few steps at a time; after each chunk the figure redraws with the loss and the batch accuracy so
far.  Press "train" to start, again to stop; pressing it again resumes with the same model,
optimizer and history.  The learning rate slider acts on the next step.

    live = LiveTraining(model, images, labels)
    live.train_steps(20)              # the same steps, synchronously (tests, the static figure)
    live.update(run=True)             # in the background; live.update(run=False) stops after a chunk
"""
from __future__ import annotations

import math
import threading

import numpy as np
import torch
import torch.nn.functional as F
import ipywidgets as widgets

from ...training.schedule import epoch_order
from .toolkit import STYLE, Interactive, slider


def running_mean(values, window: int) -> np.ndarray:
    """Mean of the last ``window`` values at every step (a shorter window at the start)."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return values
    sums = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    start = np.maximum(idx - window, 0)
    return (sums[idx] - sums[start]) / (idx - start)


class LiveTraining(Interactive):
    """Train ``model`` on ``images (N, ...)``, ``labels (N,)`` and watch the curves grow."""

    css_name = "live-training"

    def __init__(self, model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int = 64,
                 lr: float = 1e-3, max_steps: int = 1000, chunk: int = 5, seed: int = 0):
        if not isinstance(images, torch.Tensor) or not isinstance(labels, torch.Tensor) or labels.dim() != 1 \
                or len(images) != len(labels) or len(labels) < batch_size:
            got = (f"{tuple(images.shape)} and {tuple(labels.shape)}" if isinstance(images, torch.Tensor)
                   and isinstance(labels, torch.Tensor) else f"{type(images).__name__} and {type(labels).__name__}")
            raise ValueError(f"expected tensors images (N, ...) and labels (N,) with N >= batch_size = {batch_size}, "
                             f"got {got}")
        self.model, self.images, self.labels = model, images, labels
        self.batch_size, self.max_steps, self.chunk, self.seed = batch_size, max_steps, chunk, seed
        self.device = next(model.parameters()).device
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
        self.losses: list[float] = []
        self.accuracies: list[float] = []
        self.lrs: list[float] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        run = widgets.ToggleButton(value=False, description="train", icon="play",
                                   tooltip="start / stop training (resumes where it stopped)", style=STYLE)
        self._build({
            "run": run,
            "lr": slider("log", lr, -4, -2, 0.1, "learning rate", readout_format=".1e"),
            "smooth": slider("int", 10, 1, 50, 1, "smoothing (steps)"),
        })

    # -- training ----------------------------------------------------------------------------
    @property
    def steps(self) -> int:
        return len(self.losses)

    def train_steps(self, n: int) -> int:
        """Run ``n`` optimizer steps (fewer if ``max_steps`` is reached); return how many ran."""
        done = 0
        with self._lock:
            per_epoch = len(self.labels) // self.batch_size
            self.model.train()
            for _ in range(n):
                if self.steps >= self.max_steps:
                    break
                epoch, index = divmod(self.steps, per_epoch)
                idx = epoch_order(len(self.labels), self.seed, epoch)[index * self.batch_size:(index + 1) * self.batch_size]
                x, y = self.images[idx].to(self.device), self.labels[idx].to(self.device)
                for group in self.optimizer.param_groups:
                    group["lr"] = self.lr.value
                logits = self.model(x)  # (B, classes)
                loss = F.cross_entropy(logits.float(), y)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                self.losses.append(loss.item())
                self.accuracies.append((logits.argmax(-1) == y).float().mean().item())
                self.lrs.append(self.lr.value)
                done += 1
            self.model.eval()
        return done

    def _loop(self) -> None:
        while self.run.value and self.steps < self.max_steps:
            self.train_steps(self.chunk)
            self.redraw()
        self.run.value = False

    def adjust(self, name: str) -> None:
        if name != "run":
            return
        self.run.icon = "stop" if self.run.value else "play"
        self.run.description = "stop" if self.run.value else "train"
        if self.run.value and (self._thread is None or not self._thread.is_alive()):
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the background training to stop (after ``update(run=False)`` or at ``max_steps``)."""
        if self._thread is not None:
            self._thread.join(timeout)

    # -- drawing -----------------------------------------------------------------------------
    def compute(self, *, run, lr, smooth) -> dict:
        with self._lock:
            losses, accuracies = list(self.losses), list(self.accuracies)
        return {"steps": len(losses), "losses": np.array(losses), "smoothed_loss": running_mean(losses, smooth),
                "smoothed_accuracy": running_mean(accuracies, smooth), "running": bool(run)}

    def draw(self, fig, state, *, run, lr, smooth) -> None:
        fig.set_size_inches(10, 3.4)
        left, right = fig.subplots(1, 2)
        steps = np.arange(1, state["steps"] + 1)
        left.plot(steps, state["losses"], color="tab:blue", alpha=0.3, lw=0.8, label="batch loss")
        left.plot(steps, state["smoothed_loss"], color="tab:blue", label=f"mean of {smooth} steps")
        left.axhline(math.log(10), color="grey", ls=":", label="ln 10: a uniform guess over 10 classes")
        left.set_xlabel("optimizer step")
        left.set_ylabel("cross-entropy loss (nats)")
        left.set_xlim(0, max(10, state["steps"]))
        left.legend(fontsize=7, loc="upper right")
        right.plot(steps, 100 * state["smoothed_accuracy"], color="tab:green",
                   label=f"batch accuracy, mean of {smooth} steps")
        right.axhline(10, color="grey", ls=":", label="chance (10 classes)")
        right.set_ylim(0, 100)
        right.set_xlim(0, max(10, state["steps"]))
        right.set_xlabel("optimizer step")
        right.set_ylabel("accuracy (%)")
        right.legend(fontsize=7, loc="lower right")
        last = f", last {smooth}-step mean loss {state['smoothed_loss'][-1]:.3f}" if state["steps"] else ""
        status = "training:" if state["running"] else "stopped at"
        fig.suptitle(f"{status} {state['steps']} steps of {self.batch_size} examples, lr {lr:.1e}{last}", fontsize=10)
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.15, top=0.88, wspace=0.25)

"""Chapter 5 exercises: the training step, the accuracy, the warm-up + cosine schedule.

Each checker runs the learner's function next to the package's reference
(:mod:`perceiver_edu.training.trainer`) and, when they differ, tries the typical mistakes one by one so that
the hint names the one that was made.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F

from ..inputs.images import ImagePerceiver, ImagePreprocess
from ..model.perceiver import PerceiverConfig
from ..training.trainer import accuracy, lr_at
from .core import Hint, exercise


def _tiny_perceiver(seed: int) -> ImagePerceiver:
    torch.manual_seed(seed)
    pre = ImagePreprocess(image_shape=(1, 8, 8), num_bands=2, max_freq=8.0)
    cfg = PerceiverConfig(input_channels=pre.byte_channels, num_classes=10, num_latents=4, latent_dim=16,
                          num_cross_attends=2, self_attends_per_block=1, self_heads=2)
    return ImagePerceiver(cfg, pre)


def _reference_step(model, optimizer, images, labels) -> float:
    logits = model(images)
    loss = F.cross_entropy(logits, labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _params(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _same(a: list, b: list, atol: float = 1e-6) -> bool:
    return all(torch.allclose(x, y, atol=atol, rtol=1e-5) for x, y in zip(a, b))


@exercise("5.1", "One training step: forward, loss, backward, update", difficulty=2, chapter=5,
          teaches="the four lines every training loop repeats, and why the gradients are zeroed")
def check_train_step(fn):
    gen = torch.Generator().manual_seed(5)
    batches = [(torch.rand(6, 1, 8, 8, generator=gen), torch.randint(0, 10, (6,), generator=gen)) for _ in range(3)]
    ref_model = _tiny_perceiver(0).train()
    ref_opt = torch.optim.SGD(ref_model.parameters(), lr=0.1, momentum=0.0)
    model = copy.deepcopy(ref_model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.0)
    before = _params(model)
    for i, (x, y) in enumerate(batches):
        want = _reference_step(ref_model, ref_opt, x, y)
        with torch.no_grad():
            logits = model(x)
        got = fn(model, opt, x.clone(), y.clone())
        if isinstance(got, torch.Tensor):
            if got.numel() != 1:
                raise Hint(f"return the loss as one number, got a tensor of shape {tuple(got.shape)}")
            if got.requires_grad:
                raise Hint("return loss.item() (a Python float), not the loss tensor: keeping the tensor keeps "
                           "its whole computation graph alive")
            got = got.item()
        if not isinstance(got, (float, int)):
            raise Hint(f"return the loss as a float (loss.item()), got {type(got).__name__}")
        if i == 0 and _same(_params(model), before):
            raise Hint("the parameters did not change: call optimizer.step() after loss.backward()")
        if not math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-5):
            if math.isclose(got, F.cross_entropy(logits.softmax(-1), y).item(), rel_tol=1e-4):
                raise Hint("F.cross_entropy takes the raw logits: it applies the (log-)softmax itself, "
                           "so do not softmax them first")
            if math.isclose(got, F.cross_entropy(logits, y, reduction="sum").item(), rel_tol=1e-4):
                raise Hint("use the mean loss over the batch (F.cross_entropy's default), not the sum")
            if i > 0 and math.isclose(got, F.cross_entropy(logits, y).item(), rel_tol=1e-4):
                raise Hint("the loss is right but the previous update was not: is optimizer.zero_grad() "
                           "called before loss.backward()? Without it the gradients of every step add up")
            raise Hint(f"loss {got:.5f} expected {want:.5f}: the loss is F.cross_entropy(model(images), labels)")
        if not _same(_params(model), _params(ref_model)):
            if i > 0:
                raise Hint("the update is wrong from the second step on: call optimizer.zero_grad() before "
                           "loss.backward(), otherwise the gradients of every step add up")
            raise Hint("the update is wrong: the order is zero_grad(), backward(), step()")


@exercise("5.2", "Accuracy from logits", difficulty=1, chapter=5,
          teaches="arg-max over the class axis and the fraction of correct predictions")
def check_accuracy(fn):
    gen = torch.Generator().manual_seed(2)
    for b, k in ((10, 10), (7, 3), (3, 12)):  # batch != classes in two of them
        logits = torch.randn(b, k, generator=gen)
        labels = torch.randint(0, k, (b,), generator=gen)
        labels[0] = logits[0].argmax()  # at least one right, and (usually) some wrong
        want = accuracy(logits, labels)
        got = fn(logits.clone(), labels.clone())
        if isinstance(got, torch.Tensor):
            if got.numel() != 1:
                raise Hint(f"return one number, got a tensor of shape {tuple(got.shape)}: average the "
                           f"per-example matches with .float().mean()")
            got = got.item()
        if not isinstance(got, (float, int)):
            raise Hint(f"return a float between 0 and 1, got {type(got).__name__}")
        if math.isclose(got, want, abs_tol=1e-6):
            continue
        if math.isclose(got, want * b, abs_tol=1e-6):
            raise Hint("that is the number of correct predictions: divide by the batch size for a fraction")
        if math.isclose(got, 100 * want, abs_tol=1e-4):
            raise Hint("return a fraction between 0 and 1, not a percentage")
        raise Hint(f"accuracy {got:.4f} expected {want:.4f}: take the arg-max over the classes (dim=-1, one "
                   f"prediction per row), compare with the labels and average")


@exercise("5.3", "Learning-rate schedule: linear warm-up, then cosine decay", difficulty=2, chapter=5,
          teaches="why attention models warm up, and the half-cosine from lr down to min_lr")
def check_lr_schedule(fn):
    cases = [(100, 1e-3, 10, 0.0), (50, 2e-3, 5, 1e-4), (1000, 1.0, 100, 0.1)]
    for total, lr, warmup, min_lr in cases:
        want = [lr_at(s, total, lr, warmup, min_lr) for s in range(total + 1)]
        got = []
        for s in range(total + 1):
            value = fn(s, total, lr, warmup, min_lr)
            if isinstance(value, torch.Tensor):
                value = value.item()
            if not isinstance(value, (float, int)):
                raise Hint(f"return a float learning rate, got {type(value).__name__} at step {s}")
            got.append(float(value))
        if all(math.isclose(g, w, rel_tol=1e-6, abs_tol=1e-12) for g, w in zip(got, want)):
            continue
        case = f"(total_steps={total}, lr={lr}, warmup_steps={warmup}, min_lr={min_lr})"
        if got[0] == 0:
            raise Hint(f"step 0 has learning rate 0, a wasted step: warm up with lr * (step + 1) / warmup_steps {case}")
        if not all(math.isclose(g, w, rel_tol=1e-6) for g, w in zip(got[:warmup], want[:warmup])):
            raise Hint(f"the warm-up is wrong: it should rise linearly, lr * (step + 1) / warmup_steps, reaching lr "
                       f"at step warmup_steps - 1 {case}; got {got[:3]} for steps 0-2, expected {want[:3]}")
        if min_lr > 0 and math.isclose(got[-1], 0.0, abs_tol=1e-12):
            raise Hint(f"the schedule should end at min_lr={min_lr}, not 0: min_lr + (lr - min_lr) * cosine factor {case}")
        if any(g < min(min_lr, lr) - 1e-12 for g in got):
            raise Hint(f"the learning rate went below min_lr (to {min(got):.3g}): the cosine factor is "
                       f"0.5 * (1 + cos(pi * progress)), which stays in [0, 1] {case}")
        no_offset = [lr * (s + 1) / warmup if s < warmup else
                     min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * min(1.0, s / total))) for s in range(total + 1)]
        if all(math.isclose(g, w, rel_tol=1e-6, abs_tol=1e-12) for g, w in zip(got, no_offset)):
            raise Hint(f"the cosine should start where the warm-up ends: progress = (step - warmup_steps) / "
                       f"(total_steps - warmup_steps) {case}")
        bad = next(s for s, (g, w) in enumerate(zip(got, want)) if not math.isclose(g, w, rel_tol=1e-6, abs_tol=1e-12))
        raise Hint(f"at step {bad} the learning rate is {got[bad]:.6g}, expected {want[bad]:.6g} {case}")

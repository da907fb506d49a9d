"""Chapter 5 exercises: the first loss and the learning rate (predict, then measure), a training step
from micro-batches, the accuracy, the warm-up + cosine schedule.

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


# -- 5.1 and 5.2: predict, then measure ----------------------------------------------------------
def _number(value, what: str) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (float, int)):
        raise Hint(f"{what}: a number expected, got {type(value).__name__}")
    return float(value)


@exercise("5.1", "Predict the loss of an untrained classifier, then measure it", difficulty=1, chapter=5,
          teaches="cross-entropy of a uniform guess over K classes is ln K; an untrained model is close to it")
def check_initial_loss(predicted, measured):
    predicted = _number(predicted, "predicted_first_loss")
    measured = _number(measured, "the measured first loss")
    chance = math.log(10)
    if abs(predicted - chance) < 0.05 or abs(predicted - measured) < 0.1:
        return
    if math.isclose(predicted, 1.0, abs_tol=0.02):
        raise Hint("that is log10(10): cross-entropy uses the natural logarithm, so a uniform guess costs ln 10")
    if math.isclose(predicted, 0.1, abs_tol=0.02) or math.isclose(predicted, 0.9, abs_tol=0.02):
        raise Hint("that is a probability (1/10) or an error rate; the loss is -ln(probability of the right class)")
    if predicted < 0.5:
        raise Hint(f"an untrained model has not learned the classes yet: it gives each of the 10 classes about "
                   f"the same probability, so the loss is -ln(1/10), not {predicted:.2g}")
    if math.isclose(predicted, 10.0, abs_tol=0.5) or math.isclose(predicted, math.log(784), abs_tol=0.1):
        raise Hint("the loss depends on the number of classes (10), not on the pixels: a uniform guess over "
                   "K classes costs ln K")
    raise Hint(f"measured {measured:.2f}; a uniform guess over 10 classes gives -ln(1/10) = ln 10; "
               f"you predicted {predicted:.2f}")


_OUTCOMES = ("lower", "same", "higher")


def _outcome(loss: float, base: float, tolerance: float) -> str:
    return "same" if abs(loss - base) <= tolerance else ("lower" if loss < base else "higher")


@exercise("5.2", "Predict the effect of a 10x and a 100x learning rate, then measure it", difficulty=2, chapter=5,
          teaches="a larger step learns faster only up to a point; far beyond it Adam's steps overshoot")
def check_learning_rate(predicted, measured, tolerance: float = 0.05):
    """``predicted``: {factor: "lower" | "same" | "higher"}; ``measured``: {factor: final loss}, factor 1 included."""
    if not isinstance(predicted, dict) or not isinstance(measured, dict):
        raise Hint("predicted and measured are dicts keyed by the factor: {10: 'lower', 100: 'higher'} and "
                   "{1: loss, 10: loss, 100: loss}")
    if 1 not in measured:
        raise Hint("measured needs the loss at the original learning rate (factor 1) to compare with")
    for factor in sorted(k for k in measured if k != 1):
        guess = predicted.get(factor)
        if guess not in _OUTCOMES:
            raise Hint(f"predicted[{factor}] should be one of {_OUTCOMES}, got {guess!r}")
        loss, base = _number(measured[factor], f"measured[{factor}]"), _number(measured[1], "measured[1]")
        truth = _outcome(loss, base, tolerance)
        if guess == truth:
            continue
        why = {"lower": "larger steps moved the weights further in the same number of steps, and they still "
                        "went downhill",
               "higher": "the steps are so large that they overshoot: Adam moves every weight by about lr per "
                         "step whatever the gradient's size, so a 100x lr jumps across the valley instead of "
                         "descending it (the loss stays near ln 10, or rises)",
               "same": "the two runs end within the tolerance of each other"}[truth]
        raise Hint(f"at {factor}x the learning rate the final loss was {loss:.2f} against {base:.2f}: {truth}, "
                   f"not {guess}. Why: {why}")


# -- 5.3 ---------------------------------------------------------------------------------------
def _accumulated_step(model, optimizer, images, labels, micro_batches, mistake=None) -> float:
    optimizer.zero_grad()
    total = 0.0
    for x, y in zip(images.chunk(micro_batches), labels.chunk(micro_batches)):
        if mistake == "zero_grad_inside":
            optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        if mistake != "no_division":
            loss = loss / micro_batches
        loss.backward()
        total += loss.item()
        if mistake == "step_inside":
            optimizer.step()
    if mistake != "step_inside":
        optimizer.step()
    return total


@exercise("5.3", "One training step from micro-batches (gradient accumulation)", difficulty=2, chapter=5,
          teaches="backward() adds into .grad: zero once, scale each micro-batch's loss, step once")
def check_train_step(fn):
    gen = torch.Generator().manual_seed(5)
    hints = {
        "no_division": "the update is micro_batches times too large: divide each micro-batch's loss by "
                       "micro_batches, so that the summed gradients equal the gradient of the batch's mean loss",
        "zero_grad_inside": "only the last micro-batch's gradient was used: call optimizer.zero_grad() once, "
                            "before the loop; backward() adds into .grad, which is what accumulation needs",
        "step_inside": "you stepped after every micro-batch: that is several small steps, not one step on the "
                       "whole batch; call optimizer.step() once, after the loop",
    }
    for micro_batches in (2, 3):
        x, y = torch.rand(6, 1, 8, 8, generator=gen), torch.randint(0, 10, (6,), generator=gen)
        ref_model = _tiny_perceiver(micro_batches).train()
        model = copy.deepcopy(ref_model)
        ref_opt = torch.optim.SGD(ref_model.parameters(), lr=0.5)
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        start = copy.deepcopy(ref_model)
        want = _reference_step(ref_model, ref_opt, x, y)  # one step on the whole batch
        got = fn(model, opt, x.clone(), y.clone(), micro_batches)
        if isinstance(got, torch.Tensor):
            if got.numel() != 1:
                raise Hint(f"return the loss as one number, got a tensor of shape {tuple(got.shape)}")
            if got.requires_grad:
                raise Hint("return a Python float (loss.item()), not the loss tensor: keeping the tensor keeps "
                           "its whole computation graph alive")
            got = got.item()
        if not isinstance(got, (float, int)):
            raise Hint(f"return the batch's loss as a float, got {type(got).__name__}")
        setting = f"(micro_batches={micro_batches})"
        if _same(_params(model), _params(start)):
            raise Hint(f"the parameters did not change: call optimizer.step() after the backward passes {setting}")
        if not _same(_params(model), _params(ref_model), atol=1e-5):
            for mistake, hint in hints.items():
                variant = copy.deepcopy(start)
                _accumulated_step(variant, torch.optim.SGD(variant.parameters(), lr=0.5), x, y, micro_batches,
                                  mistake)
                if _same(_params(model), _params(variant), atol=1e-5):
                    raise Hint(f"{hint} {setting}")
            raise Hint(f"the weights after your step differ from one step on the whole batch {setting}")
        if not math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-5):
            if math.isclose(got, want * micro_batches, rel_tol=1e-4):
                raise Hint(f"the update is right but the loss returned is the sum of the micro-batch means: "
                           f"return the batch's mean loss (sum of the scaled losses) {setting}")
            raise Hint(f"loss {got:.5f} returned, the batch's mean loss is {want:.5f} {setting}")


@exercise("5.4", "Accuracy from logits", difficulty=1, chapter=5,
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


@exercise("5.5", "Learning-rate schedule: linear warm-up, then cosine decay", difficulty=2, chapter=5,
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

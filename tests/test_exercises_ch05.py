"""Each chapter-5 checker accepts the reference answer and names typical mistakes."""
import math

import pytest
import torch
import torch.nn.functional as F

from perceiver_edu.exercises import run_checker
from perceiver_edu.training.trainer import accuracy, lr_at


def hint(id, answer):
    passed, message = run_checker(id, answer)
    assert not passed, "the checker accepted a wrong answer"
    return message


# 5.1 the first loss, predicted ----------------------------------------------------------------------
def test_5_1_accepts_ln10_and_the_measurement():
    assert run_checker("5.1", math.log(10), 2.41)[0]
    assert run_checker("5.1", 2.35, 2.41)[0]  # close to what was measured


@pytest.mark.parametrize("wrong, expected", [
    (1.0, "natural logarithm"),
    (0.1, "probability"),
    (0.0, "has not learned"),
    (math.log(784), "number of classes"),
    (4.0, "ln 10"),
])
def test_5_1_names_the_mistake(wrong, expected):
    passed, message = run_checker("5.1", wrong, 2.41)
    assert not passed and expected in message


# 5.2 the learning rate, predicted ------------------------------------------------------------------
MEASURED = {1: 1.76, 10: 1.52, 100: 2.37}  # chapter 5's plain loop, 40 steps


def test_5_2_accepts_what_was_measured():
    assert run_checker("5.2", {10: "lower", 100: "higher"}, MEASURED)[0]
    assert run_checker("5.2", {10: "same"}, {1: 1.76, 10: 1.78})[0]  # within the tolerance


@pytest.mark.parametrize("predicted, expected", [
    ({10: "higher", 100: "higher"}, "lower, not higher"),
    ({10: "lower", 100: "lower"}, "overshoot"),
    ({10: "faster", 100: "higher"}, "should be one of"),
    ({10: "lower"}, "should be one of"),
])
def test_5_2_names_the_mistake(predicted, expected):
    passed, message = run_checker("5.2", predicted, MEASURED)
    assert not passed and expected in message
    assert "factor 1" in run_checker("5.2", predicted, {10: 1.5})[1]


# 5.3 a step from micro-batches --------------------------------------------------------------------
def accumulate(model, optimizer, images, labels, micro_batches, *, divide=True, zero_inside=False,
               step_inside=False, return_sum=False):
    optimizer.zero_grad()
    total = 0.0
    for x, y in zip(images.chunk(micro_batches), labels.chunk(micro_batches)):
        if zero_inside:
            optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        raw = loss.item()
        if divide:
            loss = loss / micro_batches
        loss.backward()
        total += raw if return_sum else loss.item()
        if step_inside:
            optimizer.step()
    if not step_inside:
        optimizer.step()
    return total


def test_5_3_accepts_reference():
    assert run_checker("5.3", accumulate)[0]


@pytest.mark.parametrize("wrong, expected", [
    (lambda *a: accumulate(*a, divide=False), "divide each micro-batch's loss"),
    (lambda *a: accumulate(*a, zero_inside=True), "only the last micro-batch"),
    (lambda *a: accumulate(*a, step_inside=True), "stepped after every micro-batch"),
    (lambda *a: accumulate(*a, return_sum=True), "sum of the micro-batch means"),
    (lambda m, o, x, y, k: F.cross_entropy(m(x), y).item(), "did not change"),
    (lambda m, o, x, y, k: accumulate(m, o, x, y, k) * torch.ones(1, requires_grad=True), "Python float"),
])
def test_5_3_names_the_mistake(wrong, expected):
    assert expected in hint("5.3", wrong)


# 5.4 accuracy ---------------------------------------------------------------------------------
def test_5_4_accepts_reference_and_a_tensor_result():
    assert run_checker("5.4", accuracy)[0]
    assert run_checker("5.4", lambda logits, labels: (logits.argmax(-1) == labels).float().mean())[0]


@pytest.mark.parametrize("wrong, expected", [
    (lambda logits, labels: (logits.argmax(-1) == labels).sum().item(), "number of correct predictions"),
    (lambda logits, labels: 100 * (logits.argmax(-1) == labels).float().mean().item(), "not a percentage"),
    (lambda logits, labels: (logits.argmax(-1) == labels).float(), "one number"),
    (lambda logits, labels: (logits.argmax(0) == labels).float().mean().item(), "dim=-1"),
])
def test_5_4_names_the_mistake(wrong, expected):
    assert expected in hint("5.4", wrong)


# 5.5 the schedule -----------------------------------------------------------------------------
def warmup_from_zero(step, total, lr, warmup, min_lr):
    return lr * step / warmup if step < warmup else lr_at(step, total, lr, warmup, min_lr)


def cosine_not_offset(step, total, lr, warmup, min_lr):
    if step < warmup:
        return lr * (step + 1) / warmup
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * min(1.0, step / total)))


def decays_to_zero(step, total, lr, warmup, min_lr):
    if step < warmup:
        return lr * (step + 1) / warmup
    return 0.5 * lr * (1 + math.cos(math.pi * min(1.0, (step - warmup) / (total - warmup))))


def plain_cosine(step, total, lr, warmup, min_lr):
    if step < warmup:
        return lr * (step + 1) / warmup
    return min_lr + (lr - min_lr) * math.cos(math.pi * min(1.0, (step - warmup) / (total - warmup)))


def test_5_5_accepts_reference():
    assert run_checker("5.5", lr_at)[0]


@pytest.mark.parametrize("wrong, expected", [
    (warmup_from_zero, "step 0 has learning rate 0"),
    (cosine_not_offset, "where the warm-up ends"),
    (decays_to_zero, "end at min_lr"),
    (plain_cosine, "below min_lr"),
])
def test_5_5_names_the_mistake(wrong, expected):
    assert expected in hint("5.5", wrong)

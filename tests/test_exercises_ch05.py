"""Each chapter-5 checker accepts the reference answer and names typical mistakes."""
import math

import pytest
import torch.nn.functional as F

from perceiver_edu.exercises import run_checker
from perceiver_edu.training.trainer import accuracy, lr_at


def hint(id, answer):
    passed, message = run_checker(id, answer)
    assert not passed, "the checker accepted a wrong answer"
    return message


# 5.1 the training step ------------------------------------------------------------------------
def reference_step(model, optimizer, images, labels):
    loss = F.cross_entropy(model(images), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def no_zero_grad(model, optimizer, images, labels):
    loss = F.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()
    return loss.item()


def no_step(model, optimizer, images, labels):
    loss = F.cross_entropy(model(images), labels)
    optimizer.zero_grad()
    loss.backward()
    return loss.item()


def softmax_first(model, optimizer, images, labels):
    loss = F.cross_entropy(model(images).softmax(-1), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def returns_tensor(model, optimizer, images, labels):
    loss = F.cross_entropy(model(images), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


def test_5_1_accepts_reference():
    assert run_checker("5.1", reference_step)[0]


@pytest.mark.parametrize("wrong, expected", [
    (no_zero_grad, "zero_grad"),
    (no_step, "optimizer.step()"),
    (softmax_first, "do not softmax"),
    (returns_tensor, "loss.item()"),
])
def test_5_1_names_the_mistake(wrong, expected):
    assert expected in hint("5.1", wrong)


# 5.2 accuracy ---------------------------------------------------------------------------------
def test_5_2_accepts_reference_and_a_tensor_result():
    assert run_checker("5.2", accuracy)[0]
    assert run_checker("5.2", lambda logits, labels: (logits.argmax(-1) == labels).float().mean())[0]


@pytest.mark.parametrize("wrong, expected", [
    (lambda logits, labels: (logits.argmax(-1) == labels).sum().item(), "number of correct predictions"),
    (lambda logits, labels: 100 * (logits.argmax(-1) == labels).float().mean().item(), "not a percentage"),
    (lambda logits, labels: (logits.argmax(-1) == labels).float(), "one number"),
    (lambda logits, labels: (logits.argmax(0) == labels).float().mean().item(), "dim=-1"),
])
def test_5_2_names_the_mistake(wrong, expected):
    assert expected in hint("5.2", wrong)


# 5.3 the schedule -----------------------------------------------------------------------------
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


def test_5_3_accepts_reference():
    assert run_checker("5.3", lr_at)[0]


@pytest.mark.parametrize("wrong, expected", [
    (warmup_from_zero, "step 0 has learning rate 0"),
    (cosine_not_offset, "where the warm-up ends"),
    (decays_to_zero, "end at min_lr"),
    (plain_cosine, "below min_lr"),
])
def test_5_3_names_the_mistake(wrong, expected):
    assert expected in hint("5.3", wrong)

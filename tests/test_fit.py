"""fit(): a model-agnostic trainer; learns a separable toy problem, deterministically."""
import math

import pytest
import torch
from torch import nn

from perceiver_edu.data import load_fashion_mnist
from perceiver_edu.model.baselines import MLP
from perceiver_edu.training import evaluation
from perceiver_edu.training.distributed import DistInfo
from perceiver_edu.training.fit import History, evaluate_accuracy, fit, lr_at, predict_logits
from perceiver_edu.training.trainer import evaluate


def blobs(n=400, seed=0):
    """Two Gaussian blobs in 2-D, centred at (-2, -2) and (2, 2): linearly separable."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    points = torch.randn(n, 2, generator=g) * 0.7 + (labels[:, None].float() * 4 - 2)
    return points, labels


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))


def test_learns_a_separable_problem():
    x, y = blobs()
    model = tiny_model()
    before = evaluate_accuracy(model, x, y)
    history = fit(model, x, y, epochs=5, batch_size=32, lr=1e-2, progress=False, device="cpu")
    assert evaluate_accuracy(model, *blobs(seed=1)) > 0.97
    assert history.steps == 5 * (400 // 32) and history.epochs == 5
    assert sum(history.losses[-5:]) / 5 < sum(history.losses[:5]) / 5 / 3
    assert before < 0.97 or history.losses[-1] < 0.1


def test_same_seed_same_losses_other_seed_other_losses():
    x, y = blobs()
    runs = [fit(tiny_model(), x, y, steps=30, batch_size=16, lr=1e-2, seed=s, progress=False, device="cpu").losses
            for s in (0, 0, 1)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_steps_override_epochs_and_schedule_is_warmup_then_cosine():
    x, y = blobs(100)
    h = fit(tiny_model(), x, y, epochs=50, steps=20, batch_size=10, lr=1e-2, warmup=5, min_lr=1e-4,
            progress=False, device="cpu")
    assert h.steps == 20 and h.epochs == 2
    assert h.lrs[:5] == pytest.approx([1e-2 * (i + 1) / 5 for i in range(5)])
    assert h.lrs[-1] == pytest.approx(lr_at(19, 20, 1e-2, 5, 1e-4))
    assert all(a >= b for a, b in zip(h.lrs[4:], h.lrs[5:]))  # decays after the warm-up


def test_lr_at_matches_the_formula():
    assert lr_at(0, 100, 1.0, 10) == pytest.approx(0.1)
    assert lr_at(9, 100, 1.0, 10) == pytest.approx(1.0)
    assert lr_at(55, 100, 1.0, 10, 0.0) == pytest.approx(0.5)  # half way through the cosine
    assert lr_at(100, 100, 1.0, 10, 0.2) == pytest.approx(0.2)
    assert lr_at(500, 100, 1.0, 10, 0.2) == pytest.approx(0.2)
    assert lr_at(30, 100, 1.0, 10) == pytest.approx(0.5 * (1 + math.cos(math.pi * 20 / 90)))


def test_transform_is_applied_in_training_and_evaluation():
    x, y = blobs()
    seen = []

    def flip(batch):  # the model only ever sees -x
        seen.append(batch.shape)
        return -batch

    model = tiny_model()
    fit(model, -x, y, epochs=3, batch_size=32, lr=1e-2, transform=flip, progress=False, device="cpu")
    assert seen and all(s[1] == 2 for s in seen)
    assert evaluate_accuracy(model, -x, y, transform=flip) > 0.97
    assert evaluate_accuracy(model, x, y) > 0.97
    assert evaluate_accuracy(model, -x, y) < 0.1  # without the transform: the opposite class


def test_predict_logits_batches_and_restores_training_mode():
    x, _ = blobs(50)
    model = tiny_model()
    model.train()
    logits = predict_logits(model, x, batch_size=7)
    assert logits.shape == (50, 2) and model.training
    with torch.no_grad():
        assert torch.allclose(logits, model(x), atol=1e-6)


@pytest.mark.needs_data("fashion-mnist")
def test_trainer_and_fit_score_a_model_as_an_example_by_example_loop_does():
    """One evaluation for both trainers: the image trainer's evaluate, its evaluation split over the
    processes (one here) and fit's evaluate_accuracy agree with classifying one example at a time."""
    train_set = load_fashion_mnist("train").subset(256, seed=2)
    test_set = load_fashion_mnist("test").subset(50, seed=2)
    torch.manual_seed(0)
    model = MLP(hidden=(32,))
    fit(model, train_set.images, train_set.labels, steps=24, batch_size=32, lr=1e-2, progress=False, device="cpu")
    model.eval()
    with torch.no_grad():
        logits = [model(image[None])[0] for image in test_set.images]  # one example at a time
    naive_acc = sum(int(l.argmax() == y) for l, y in zip(logits, test_set.labels)) / len(test_set)
    naive_loss = sum(float(nn.functional.cross_entropy(l, y)) for l, y in zip(logits, test_set.labels)) / len(test_set)
    assert 0.3 < naive_acc < 1  # the model tells classes apart, so a wrong evaluation would show

    model.train()
    trainer_eval = evaluate(model, test_set, batch_size=7)
    job_eval = evaluation.evaluate_sharded(model, test_set, DistInfo(), torch.device("cpu"), batch_size=7)
    fit_acc = evaluate_accuracy(model, test_set.images, test_set.labels, batch_size=7)
    assert model.training  # each restored the training mode
    for acc in (trainer_eval["acc"], job_eval["acc"], fit_acc):  # float32 or float64 fractions
        assert acc == pytest.approx(naive_acc, abs=1e-6)
    assert trainer_eval["loss"] == pytest.approx(naive_loss, rel=1e-5)
    assert job_eval["loss"] == pytest.approx(naive_loss, rel=1e-5)
    assert torch.equal(trainer_eval["predictions"], torch.stack(logits).argmax(dim=-1))


def test_history_smoothing_and_repr():
    h = History(losses=[4.0, 2.0, 0.0, 2.0])
    assert h.smoothed(2).tolist() == [3.0, 1.0, 1.0]
    assert "4 steps" in repr(h)


@pytest.mark.parametrize("inputs, labels, match", [
    (torch.zeros(5, 2), torch.zeros(4, dtype=torch.long), "same N"),
    (torch.zeros(5, 2), torch.zeros(5, 1, dtype=torch.long), "labels"),
    ([[0.0, 1.0]], torch.zeros(1, dtype=torch.long), "tensors"),
])
def test_bad_data_is_a_clear_error(inputs, labels, match):
    with pytest.raises((ValueError, TypeError), match=match):
        fit(tiny_model(), inputs, labels, progress=False, device="cpu")

"""Each chapter-6 checker accepts the reference answer and names typical mistakes."""
import math

import pytest
import torch

from perceiver_edu.exercises import run_checker
from perceiver_edu.exercises.ch06 import shift_outcome
from perceiver_edu.plots.attention_maps import (attention_center_of_mass, attention_maps, map_image_correlation,
                                              softmax_weights)


def hint(id, *answer):
    passed, message = run_checker(id, *answer)
    assert not passed, "the checker accepted a wrong answer"
    return message


# 6.1 attention centres after a shift, predicted -------------------------------------------------
def centre_shift(model, images, shift, roll=False, rows=False, axis=1, sign=1.0):
    if roll:
        moved = torch.roll(images, shifts=shift, dims=-1)
    else:
        moved = torch.zeros_like(images)
        if rows:
            moved[..., shift:, :] = images[..., :-shift, :]
        else:
            moved[..., shift:] = images[..., :-shift]
    _, before = attention_maps(model, images)
    _, after = attention_maps(model, moved)
    shape = images.shape[-2:]
    return [sign * (attention_center_of_mass(softmax_weights(b), shape)
                    - attention_center_of_mass(softmax_weights(a), shape))[..., axis].mean().item()
            for a, b in zip(before, after)]


def naive_centre_column(weights, width):
    """Column of the centre of mass by a loop over the pixels, for one map (M,)."""
    total = sum(float(v) for v in weights)
    return sum(float(v) * (m % width) for m, v in enumerate(weights)) / total


def test_6_1_reference_matches_a_naive_centre():
    torch.manual_seed(0)
    weights = torch.rand(2, 3, 8 * 8)
    com = attention_center_of_mass(weights, (8, 8))
    assert math.isclose(com[1, 2, 1].item(), naive_centre_column(weights[1, 2], 8), rel_tol=1e-5)


def test_6_1_accepts_reference_and_checks_the_prediction():
    assert run_checker("6.1", centre_shift)[0]
    assert run_checker("6.1", centre_shift, "does not follow", [-0.3, -0.5], 3)[0]
    assert run_checker("6.1", centre_shift, "does not follow", [-1.05, -0.7], 3)[0]  # moving back counts too
    assert run_checker("6.1", centre_shift, "with the image", [2.9, 1.0], 3)[0]
    assert shift_outcome(1.5, 3) == "part of the way" and shift_outcome(-1.5, 3) == "does not follow"


@pytest.mark.parametrize("wrong, expected", [
    (lambda m, x, s: centre_shift(m, x, s, roll=True), "torch.roll"),
    (lambda m, x, s: centre_shift(m, x, s, rows=True), "moved the image down"),
    (lambda m, x, s: centre_shift(m, x, s, axis=0), "change of the row"),
    (lambda m, x, s: centre_shift(m, x, s, sign=-1.0), "sign is reversed"),
    (lambda m, x, s: centre_shift(m, x, s)[0], "one number per cross-attend"),
])
def test_6_1_names_the_mistake(wrong, expected):
    assert expected in hint("6.1", wrong)


@pytest.mark.parametrize("predicted, measured, expected", [
    ("with the image", [-0.3, 0.0], "'does not follow', not 'with the image'"),
    ("does not follow", [2.5, 0.0], "'with the image', not 'does not follow'"),
    ("somewhere", [0.0, 0.0], "should be one of"),
])
def test_6_1_names_a_wrong_prediction(predicted, measured, expected):
    assert expected in hint("6.1", centre_shift, predicted, measured, 3)


def test_6_1_explains_centres_that_move_against_the_image():
    assert "moved left, against the image" in hint("6.1", centre_shift, "part of the way", [-1.0, 0.2], 3)
    assert "moved left" not in hint("6.1", centre_shift, "with the image", [0.3, 0.2], 3)


# 6.2 centre of mass -----------------------------------------------------------------------------
def loop_center_of_mass(weights, shape):
    h, w = shape
    flat = weights.reshape(-1, h * w)
    out = torch.zeros(len(flat), 2, dtype=weights.dtype)
    for i, row in enumerate(flat):
        for m in range(h * w):
            out[i] += row[m] * torch.tensor([m // w, m % w], dtype=weights.dtype)
        out[i] /= row.sum()
    return out.reshape(*weights.shape[:-1], 2)


def test_6_2_accepts_a_loop():
    assert run_checker("6.2", loop_center_of_mass)[0]


def unnormalised(weights, shape):
    return loop_center_of_mass(weights, shape) * weights.sum(dim=-1, keepdim=True)


def column_major(weights, shape):
    h, w = shape
    m = torch.arange(h * w, dtype=weights.dtype)
    total = weights.sum(-1)
    return torch.stack([(weights * (m % h)).sum(-1) / total, (weights * (m // h)).sum(-1) / total], -1)


@pytest.mark.parametrize("wrong, expected", [
    (lambda w, s: loop_center_of_mass(w, s).flip(-1), "(column, row)"),
    (lambda w, s: loop_center_of_mass(w, s) + 1, "start at 0"),
    (unnormalised, "divide by the total weight"),
    (column_major, "row by row"),
    (lambda w, s: loop_center_of_mass(w, s).reshape(-1, 2), "one (row, column) pair per map"),
])
def test_6_2_names_the_mistake(wrong, expected):
    assert expected in hint("6.2", wrong)


# 6.3 correlation --------------------------------------------------------------------------------
def loop_correlation(maps, images):
    b, n, m = maps.shape
    out = torch.zeros(b, n)
    for i in range(b):
        pixels = images[i].flatten()
        for j in range(n):
            out[i, j] = torch.corrcoef(torch.stack([maps[i, j], pixels]))[0, 1]
    return out


def cosine(maps, images):
    pixels = images.flatten(1).unsqueeze(1)
    return (maps * pixels).sum(-1) / (maps.norm(dim=-1) * pixels.norm(dim=-1))


def covariance(maps, images):
    pixels = images.flatten(1).unsqueeze(1)
    return ((maps - maps.mean(-1, keepdim=True)) * (pixels - pixels.mean(-1, keepdim=True))).mean(-1)


def test_6_3_accepts_a_loop():
    assert run_checker("6.3", loop_correlation)[0]


@pytest.mark.parametrize("exercise, answer, via_import", [
    ("6.2", attention_center_of_mass, lambda *args: attention_center_of_mass(*args)),  # a notebook's import
    ("6.3", map_image_correlation, lambda *args: map_image_correlation(*args)),
])
def test_the_package_function_that_answers_is_refused_however_it_is_reached(exercise, answer, via_import):
    import perceiver_edu.plots.attention_maps as module
    name = answer.__name__
    via_module = lambda *args: getattr(module, name)(*args)  # noqa: E731  (module.attribute at call time)
    for fn in (answer, via_import, via_module):
        assert f"the package's {name} is this exercise's answer" in hint(exercise, fn)
    assert getattr(module, name) is answer and globals()[name] is answer  # switched back on afterwards


@pytest.mark.parametrize("wrong, expected", [
    (cosine, "cosine similarity"),
    (covariance, "covariance"),
    (lambda maps, images: loop_correlation(maps, images).mean(-1), "shape (B, N)"),
    (lambda maps, images: loop_correlation(maps, images.transpose(-1, -2)), "correlations differ"),
])
def test_6_3_names_the_mistake(wrong, expected):
    assert expected in hint("6.3", wrong)

"""The chapter-10 checker accepts the reference answer and names typical mistakes."""
import pytest
import torch
import torch.nn.functional as F

from perceiver_edu.exercises import run_checker
from perceiver_edu.inputs.multimodal import fuse_byte_arrays


def hint(id, *answer):
    passed, message = run_checker(id, *answer)
    assert not passed, "the checker accepted a wrong answer"
    return message


def loop_fuse(arrays, emb):
    b = arrays[0].shape[0]
    width = max(a.shape[-1] for a in arrays)
    rows = []
    for i, a in enumerate(arrays):
        for m in range(a.shape[1]):
            el = torch.zeros(b, width + emb.shape[1])
            el[:, :a.shape[-1]] = a[:, m]
            el[:, width:] = emb[i]
            rows.append(el)
    return torch.stack(rows, dim=1)


def test_10_1_accepts_reference_and_a_loop():
    assert run_checker("10.1", fuse_byte_arrays)[0]
    assert run_checker("10.1", loop_fuse)[0]


def width(arrays):
    return max(a.shape[-1] for a in arrays)


def added(arrays, emb):
    w = width(arrays)
    return torch.cat([F.pad(a, (0, w - a.shape[-1])) + e[:1].mean() for a, e in zip(arrays, emb)], 1)


def pad_front(arrays, emb):
    w = width(arrays)
    return torch.cat([torch.cat([F.pad(a, (w - a.shape[-1], 0)), e.expand(a.shape[0], a.shape[1], -1)], -1)
                      for a, e in zip(arrays, emb)], 1)


def own_blocks(arrays, emb):
    total = sum(a.shape[-1] for a in arrays)
    out, start = [], 0
    for a, e in zip(arrays, emb):
        block = F.pad(a, (start, total - start - a.shape[-1]))
        out.append(torch.cat([block, e.expand(a.shape[0], a.shape[1], -1)], -1))
        start += a.shape[-1]
    return torch.cat(out, 1)


@pytest.mark.parametrize("wrong, expected", [
    (added, "concatenated"),
    (pad_front, "each array's own channels"),
    (own_blocks, "widest channel count"),
    (lambda arrays, emb: fuse_byte_arrays(arrays, emb.flip(0)), "wrong order"),
    (lambda arrays, emb: fuse_byte_arrays(arrays, torch.zeros_like(emb)), "embedding"),
    (lambda arrays, emb: fuse_byte_arrays(arrays, emb)[:, :-1], "expected shape"),
])
def test_10_1_names_the_mistake(wrong, expected):
    assert expected in hint("10.1", wrong)


# 10.2 one head or four: predict, then measure ------------------------------------------------------
from perceiver_edu.exercises.ch10 import paired_outcome  # noqa: E402


def pairs(both, only_four, only_one, neither):
    """Per-pair correctness of the four-head and the one-head model with the given counts."""
    four = torch.tensor([True] * both + [True] * only_four + [False] * only_one + [False] * neither)
    one = torch.tensor([True] * both + [False] * only_four + [True] * only_one + [False] * neither)
    return four, one


def sign_test_by_hand(four, one, sigmas=2.0):
    b = sum(1 for f, o in zip(four.tolist(), one.tolist()) if f and not o)
    c = sum(1 for f, o in zip(four.tolist(), one.tolist()) if o and not f)
    if c - b > sigmas * (b + c) ** 0.5:
        return "higher"
    if b - c > sigmas * (b + c) ** 0.5:
        return "lower"
    return "about the same"


@pytest.mark.parametrize("counts, truth", [((250, 30, 5, 15), "lower"), ((250, 12, 10, 28), "about the same"),
                                           ((250, 4, 30, 16), "higher"), ((250, 16, 8, 26), "about the same"),
                                           ((250, 20, 8, 22), "lower")])
def test_10_2_outcome_is_the_sign_test(counts, truth):
    four, one = pairs(*counts)
    assert paired_outcome(four, one)[0] == truth == sign_test_by_hand(four, one)
    assert paired_outcome(four, one)[1:] == (counts[1], counts[2])


@pytest.mark.parametrize("counts, truth", [((250, 30, 5, 15), "lower"), ((250, 12, 10, 28), "about the same"),
                                           ((250, 4, 30, 16), "higher")])
def test_10_2_accepts_the_measured_outcome_and_explains_the_others(counts, truth):
    four, one = pairs(*counts)
    assert run_checker("10.2", truth, four, one)[0]
    for wrong in {"lower", "about the same", "higher"} - {truth}:
        message = hint("10.2", wrong, four, one)
        assert f"says '{truth}', not '{wrong}'" in message and "Why:" in message
        assert f"{counts[1]} pairs only four heads get right, {counts[2]} only one head" in message


@pytest.mark.parametrize("answer, expected", [
    (("worse", *pairs(250, 30, 5, 15)), "one of"),
    (("lower", torch.zeros(300, 10), pairs(250, 30, 5, 15)[1]), "1-D tensor"),
    (("lower", torch.randint(0, 10, (300,)) + 2, pairs(250, 30, 5, 15)[1]), "not predictions"),
    (("lower", pairs(250, 30, 5, 15)[0], pairs(250, 30, 5, 15)[1][:100]), "same test pairs"),
    (("lower", pairs(250, 30, 5, 15)[0], pairs(250, 30, 5, 15)[0]), "score the four-head model twice"),
])
def test_10_2_names_the_mistake(answer, expected):
    assert expected in hint("10.2", *answer)


def test_10_2_accepts_zero_one_tensors():
    four, one = pairs(250, 30, 5, 15)
    assert run_checker("10.2", "lower", four.long(), one.float())[0]

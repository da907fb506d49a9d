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

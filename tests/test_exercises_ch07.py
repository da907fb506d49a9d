"""Each chapter-7 checker accepts the reference answer and names typical mistakes."""
import pytest
import torch

from perceiver_edu.inputs.images import image_to_bytes
from perceiver_edu.exercises import run_checker
from perceiver_edu.inputs.permuted import permute_pixels


def hint(id, *answer):
    passed, message = run_checker(id, *answer)
    assert not passed, "the checker accepted a wrong answer"
    return message


# 7.1 permute the pixels ----------------------------------------------------------------------------
def loop_permute(images, perm):
    out = torch.empty_like(images)
    w = images.shape[-1]
    for m, src in enumerate(perm.tolist()):
        out[..., m // w, m % w] = images[..., src // w, src % w]
    return out


def test_7_1_accepts_reference_and_a_loop():
    assert run_checker("7.1", permute_pixels)[0]
    assert run_checker("7.1", loop_permute)[0]


def flat(images):
    return images.reshape(*images.shape[:2], -1)


def in_place(images, perm):
    images.copy_(permute_pixels(images, perm))
    return images


@pytest.mark.parametrize("wrong, expected", [
    (lambda x, p: permute_pixels(x, p.argsort()), "inverse permutation"),
    (lambda x, p: flat(x)[..., p], "reshape the flat"),
    (lambda x, p: x.permute(0, 2, 3, 1).reshape(len(x), -1, x.shape[1])[:, p].reshape(x.shape), "channels got mixed"),
    (lambda x, p: torch.cat([permute_pixels(x[:, :1], p), x[:, 1:]], dim=1), "every channel"),
    (in_place, "in place"),
    (lambda x, p: x, "pixels are not where"),
])
def test_7_1_names_the_mistake(wrong, expected):
    assert expected in hint("7.1", wrong)


# 7.2 a permuted byte array that keeps its positions --------------------------------------------------
def reference_bytes(images, perm, num_bands, max_freq):
    return image_to_bytes(images, num_bands, max_freq)[:, perm]


def test_7_2_accepts_reference():
    assert run_checker("7.2", reference_bytes)[0]


def positions_only(images, perm, k, mu):
    b = image_to_bytes(images, k, mu)
    c = images.shape[1]
    return torch.cat([b[..., :c], b[:, perm, c:]], dim=-1)


def added(images, perm, k, mu):
    b = image_to_bytes(images, k, mu)[:, perm]
    c = images.shape[1]
    return b[..., c:] + b[..., :1]


@pytest.mark.parametrize("wrong, expected", [
    (lambda x, p, k, mu: image_to_bytes(permute_pixels(x, p), k, mu), "position features stayed in place"),
    (positions_only, "left the pixel values in place"),
    (lambda x, p, k, mu: image_to_bytes(x, k, mu)[:, p.argsort()], "inverse permutation"),
    (lambda x, p, k, mu: image_to_bytes(x, k, mu), "unpermuted"),
    (added, "do not add them"),
])
def test_7_2_names_the_mistake(wrong, expected):
    assert expected in hint("7.2", wrong)


# 7.3 positions left in place ---------------------------------------------------------------------------
def slot_bytes(images, perm, num_bands, max_freq):
    return image_to_bytes(permute_pixels(images, perm), num_bands, max_freq)


def slot_bytes_by_hand(images, perm, k, mu):
    b, c, h, w = images.shape
    rows = []
    for m, src in enumerate(perm.tolist()):  # slot m holds pixel src; its features are those of slot m
        value = images[:, :, src // w, src % w]  # (B, C)
        rows.append(torch.cat([value, image_to_bytes(torch.zeros(1, 1, h, w), k, mu)[0, m, 1:].expand(b, -1)], -1))
    return torch.stack(rows, dim=1)


def test_7_3_accepts_reference_and_a_loop():
    assert run_checker("7.3", slot_bytes)[0]
    assert run_checker("7.3", slot_bytes_by_hand)[0]


def permute_in_place(images, perm, k, mu):
    images.copy_(permute_pixels(images, perm))
    return image_to_bytes(images, k, mu)


@pytest.mark.parametrize("wrong, expected", [
    (reference_bytes, "exercise 7.2"),
    (positions_only, "left the pixels in place"),
    (lambda x, p, k, mu: slot_bytes(x, p.argsort(), k, mu), "inverse permutation"),
    (lambda x, p, k, mu: image_to_bytes(x, k, mu), "unpermuted"),
    (added, "do not add them"),
    (permute_in_place, "in place"),
])
def test_7_3_names_the_mistake(wrong, expected):
    assert expected in hint("7.3", wrong)

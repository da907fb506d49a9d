"""Each chapter-11 checker accepts the reference answer and names typical mistakes."""
import pytest
import torch

from perceiver_edu.exercises import run_checker
from perceiver_edu.model.position import fourier_features, position_grid


def hint(id, answer):
    passed, message = run_checker(id, answer)
    assert not passed, "the checker accepted a wrong answer"
    return message


# 11.1 output queries from positions ---------------------------------------------------------------
def reference_queries(index, shape, num_bands, max_freq):
    pos = fourier_features(position_grid(shape), num_bands, max_freq)  # (H, W, P)
    return pos.reshape(shape[0] * shape[1], -1)[index]


def by_hand(index, shape, num_bands, max_freq, rows_first=True, lo=-1.0, row_major=True):
    h, w = shape
    r, c = (index // w, index % w) if row_major else (index % h, index // h)
    y = lo + (1 - lo) * r / (h - 1)
    x = lo + (1 - lo) * c / (w - 1)
    pos = torch.stack([y, x] if rows_first else [x, y], -1)
    return fourier_features(pos, num_bands, max_freq)


def test_11_1_accepts_reference():
    assert run_checker("11.1", reference_queries)[0]
    assert run_checker("11.1", by_hand)[0]


@pytest.mark.parametrize("wrong, expected", [
    (lambda i, s, k, f: by_hand(i, s, k, f, rows_first=False), "row coordinate comes first"),
    (lambda i, s, k, f: by_hand(i, s, k, f, lo=0.0), "not in [0, 1]"),
    (lambda i, s, k, f: by_hand(i, s, k, f, row_major=False), "row-major"),
    (lambda i, s, k, f: position_grid(s).reshape(-1, 2)[i], "Fourier features"),
    (lambda i, s, k, f: reference_queries(i, s, k, f)[0], "shape (B, O, d(2K+1))"),
])
def test_11_1_names_the_mistake(wrong, expected):
    assert expected in hint("11.1", wrong)


# 11.2 decode ----------------------------------------------------------------------------------
def reference_decode(decoder, queries, latents):
    ca = decoder.cross_attend
    x = queries + ca.attn(ca.latent_norm(queries), ca.input_norm(latents))
    return decoder.out(x + ca.mlp(x))


def no_residual(decoder, queries, latents):
    ca = decoder.cross_attend
    x = ca.attn(ca.latent_norm(queries), ca.input_norm(latents))
    return decoder.out(x + ca.mlp(x))


def no_mlp(decoder, queries, latents):
    ca = decoder.cross_attend
    return decoder.out(queries + ca.attn(ca.latent_norm(queries), ca.input_norm(latents)))


def no_out_norm(decoder, queries, latents):
    ca = decoder.cross_attend
    x = queries + ca.attn(ca.latent_norm(queries), ca.input_norm(latents))
    return decoder.out[1](x + ca.mlp(x))


def test_11_2_accepts_reference():
    assert run_checker("11.2", reference_decode)[0]
    assert run_checker("11.2", lambda dec, q, lat: dec.out(dec.cross_attend(q, lat)))[0]


@pytest.mark.parametrize("wrong, expected", [
    (no_residual, "residual"),
    (no_mlp, "MLP"),
    (no_out_norm, "LayerNorm then Linear"),
    (lambda dec, q, lat: dec.out(dec.cross_attend(lat, q)), "not the latents to the queries"),
    (lambda dec, q, lat: reference_decode(dec, q, lat).mean(1), "no pooling"),
])
def test_11_2_names_the_mistake(wrong, expected):
    assert expected in hint("11.2", wrong)

"""Each chapter-2 checker accepts the reference answer and names typical mistakes."""
import math

import pytest

from perceiver_edu.exercises import run_checker


def hint(id, answer):
    passed, message = run_checker(id, answer)
    assert not passed, "the checker accepted a wrong answer"
    return message


# 2.1 crossover --------------------------------------------------------------------------------
def test_2_1_reference_matches_a_count_by_brute_force():
    from perceiver_edu.exercises.ch02 import crossover_reference
    for n, layers in [(128, 1), (64, 4), (512, 6), (10, 3), (1, 1)]:
        m = next(m for m in range(1, 10 * n + 2) if layers * m * m > n * m + layers * n * n)
        assert crossover_reference(n, layers) == m


def test_2_1_accepts_reference():
    from perceiver_edu.exercises.ch02 import crossover_reference
    assert run_checker("2.1", crossover_reference)[0]


def root(n, layers):
    return n * (1 + math.sqrt(1 + 4 * layers**2)) / (2 * layers)


@pytest.mark.parametrize("wrong, expected", [
    (lambda n, layers: math.floor(n / layers) + 1, "L·N² more score entries"),
    (lambda n, layers: n + 1, "N·M score entries of its own"),
    (lambda n, layers: math.floor(n * (1 + math.sqrt(1 + 4 * layers)) / 2) + 1, "has L layers too"),
    (lambda n, layers: root(n, layers), "smallest whole number"),
    (lambda n, layers: math.floor(root(n, layers)), "strictly cheaper"),
    (lambda n, layers: [n, layers], "one number"),
])
def test_2_1_names_the_mistake(wrong, expected):
    assert expected in hint("2.1", wrong)


# 2.2 cross-attend -----------------------------------------------------------------------------
def reference_cross_attend(latents, inputs, w_q, w_k, w_v):
    q, k, v = latents @ w_q, inputs @ w_k, inputs @ w_v
    return (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-1) @ v


def test_2_2_accepts_reference():
    assert run_checker("2.2", reference_cross_attend)[0]


@pytest.mark.parametrize("wrong, expected", [
    (lambda lat, inp, w_q, w_k, w_v: ((lat @ w_q) @ (inp @ w_k).transpose(-2, -1)).softmax(-1) @ (inp @ w_v),
     "forgot the scaling"),
    (lambda lat, inp, w_q, w_k, w_v: ((lat @ w_q) @ (inp @ w_k).transpose(-2, -1)
                                      / math.sqrt(w_q.shape[1])).softmax(-2) @ (inp @ w_v),
     "softmax over the last axis"),
    (lambda lat, inp, w_q, w_k, w_v: ((lat @ w_q) @ (inp @ w_k).transpose(-2, -1)
                                      / math.sqrt(lat.shape[-1])).softmax(-1) @ (inp @ w_v),
     "not the width D"),
    (lambda lat, inp, w_q, w_k, w_v: ((inp @ w_k) @ (lat @ w_q).transpose(-2, -1)).softmax(-1) @ (inp @ w_v)[:, :lat.shape[1]],
     "queries come from the latents"),
])
def test_2_2_names_the_mistake(wrong, expected):
    assert expected in hint("2.2", wrong)


# 2.3 cross-attention block --------------------------------------------------------------------
def reference_block(block, latents, inputs):
    latents = latents + block.attn(block.latent_norm(latents), block.input_norm(inputs))
    return latents + block.mlp(latents)


def test_2_3_accepts_reference():
    assert run_checker("2.3", reference_block)[0]


def no_residual(block, latents, inputs):
    z = block.attn(block.latent_norm(latents), block.input_norm(inputs))
    return z + block.mlp(z)


def residual_of_normed(block, latents, inputs):
    latents = block.latent_norm(latents)
    z = latents + block.attn(latents, block.input_norm(inputs))
    return z + block.mlp(z)


def inputs_not_normed(block, latents, inputs):
    z = latents + block.attn(block.latent_norm(latents), inputs)
    return z + block.mlp(z)


def no_mlp_residual(block, latents, inputs):
    return block.mlp(latents + block.attn(block.latent_norm(latents), block.input_norm(inputs)))


@pytest.mark.parametrize("wrong, expected", [
    (no_residual, "forgot the residual"),
    (residual_of_normed, "before* LayerNorm"),
    (inputs_not_normed, "normalise the inputs too"),
    (no_mlp_residual, "residual around the MLP"),
    (lambda block, latents, inputs: reference_block(block, latents, inputs).mean(1), "shape (B, N, D)"),
])
def test_2_3_names_the_mistake(wrong, expected):
    assert expected in hint("2.3", wrong)

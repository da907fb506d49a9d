"""Each chapter-12 checker accepts the reference answer and names typical mistakes."""
import pytest
import torch

from perceiver_edu.exercises import run_checker
from perceiver_edu.model.resampler import pad_tokens


def hint(id, answer):
    passed, message = run_checker(id, answer)
    assert not passed, "the checker accepted a wrong answer"
    return message


# 12.1 resampler layer ------------------------------------------------------------------------
def reference_layer(layer, latents, inputs):
    normed = layer.latent_norm(latents)
    kv = torch.cat([layer.input_norm(inputs), normed], dim=1)
    latents = latents + layer.attn(normed, kv)
    return latents + layer.mlp(latents)


def latents_first(layer, latents, inputs):  # the order of the keys does not matter
    normed = layer.latent_norm(latents)
    latents = latents + layer.attn(normed, torch.cat([normed, layer.input_norm(inputs)], dim=1))
    return latents + layer.mlp(latents)


def inputs_only(layer, latents, inputs):
    latents = latents + layer.attn(layer.latent_norm(latents), layer.input_norm(inputs))
    return latents + layer.mlp(latents)


def raw_latents(layer, latents, inputs):
    normed = layer.latent_norm(latents)
    latents = latents + layer.attn(normed, torch.cat([layer.input_norm(inputs), latents], dim=1))
    return latents + layer.mlp(latents)


def no_residual(layer, latents, inputs):
    normed = layer.latent_norm(latents)
    z = layer.attn(normed, torch.cat([layer.input_norm(inputs), normed], dim=1))
    return z + layer.mlp(z)


def all_tokens_as_queries(layer, latents, inputs):
    kv = torch.cat([layer.input_norm(inputs), layer.latent_norm(latents)], dim=1)
    return kv + layer.attn(kv, kv)


def test_12_1_accepts_reference():
    assert run_checker("12.1", reference_layer)[0]
    assert run_checker("12.1", latents_first)[0]
    assert run_checker("12.1", lambda layer, latents, inputs: layer(latents, inputs))[0]


@pytest.mark.parametrize("wrong, expected", [
    (inputs_only, "not from the inputs alone"),
    (raw_latents, "*normalised* latents"),
    (no_residual, "forgot the residual?"),
    (all_tokens_as_queries, "the queries are the latents only"),
])
def test_12_1_names_the_mistake(wrong, expected):
    assert expected in hint("12.1", wrong)


# 12.2 padding --------------------------------------------------------------------------------
def by_hand(seqs):
    t = max(len(s) for s in seqs)
    x = torch.stack([torch.cat([s, s.new_zeros(t - len(s), s.shape[1])]) for s in seqs])
    mask = torch.stack([torch.arange(t) < len(s) for s in seqs])
    return x, mask


def test_12_2_accepts_reference():
    assert run_checker("12.2", pad_tokens)[0]
    assert run_checker("12.2", by_hand)[0]


@pytest.mark.parametrize("wrong, expected", [
    (lambda seqs: (by_hand(seqs)[0], ~by_hand(seqs)[1]), "inverted"),
    (lambda seqs: (by_hand(seqs)[0], by_hand(seqs)[1].float()), "bool tensor"),
    (lambda seqs: (by_hand(seqs)[0], by_hand(seqs)[1][..., None].expand(*by_hand(seqs)[0].shape)), "one flag per token"),
    (lambda seqs: by_hand(seqs)[0], "return a pair"),
    (lambda seqs: (by_hand(seqs)[0], torch.ones(by_hand(seqs)[1].shape, dtype=torch.bool)), "as many True"),
])
def test_12_2_names_the_mistake(wrong, expected):
    assert expected in hint("12.2", wrong)

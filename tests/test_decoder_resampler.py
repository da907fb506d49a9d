import math

import pytest
import torch

from perceiver_edu import PerceiverConfig
from perceiver_edu.model.attention import MultiHeadAttention
from perceiver_edu.model.perceiver_io import PerceiverIO, PerceiverIODecoder
from perceiver_edu.model.resampler import PerceiverResampler


def cfg():
    return PerceiverConfig(input_channels=5, num_classes=1, num_latents=6, latent_dim=16, num_cross_attends=2,
                           self_attends_per_block=1, self_heads=4)


def test_input_mask_equals_dropping_the_masked_inputs():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 8, num_heads=2).double()
    q, x = torch.randn(2, 3, 8).double(), torch.randn(2, 7, 8).double()
    mask = torch.ones(2, 7, dtype=torch.bool)
    mask[0, 4:] = False
    out = mha(q, x, input_mask=mask)
    torch.testing.assert_close(out[0], mha(q[:1], x[:1, :4])[0])
    torch.testing.assert_close(out[1], mha(q[1:], x[1:])[0])
    slow, scores = mha(q, x, return_scores=True, input_mask=mask)
    torch.testing.assert_close(out, slow)
    with pytest.raises(ValueError, match=r"\(B, M\)"):
        mha(q, x, input_mask=mask[:, :5])


def test_decoder_outputs_one_row_per_query_and_queries_are_independent():
    torch.manual_seed(0)
    dec = PerceiverIODecoder(query_dim=9, latent_dim=16, out_dim=3).double()
    latents = torch.randn(2, 6, 16).double()
    queries = torch.randn(2, 11, 9).double()
    out = dec(queries, latents)
    assert out.shape == (2, 11, 3)
    # each output depends on its own query only: decoding a subset gives the same rows
    torch.testing.assert_close(dec(queries[:, 3:5], latents), out[:, 3:5])
    with pytest.raises(ValueError, match="queries"):
        dec(queries[0], latents)


def test_perceiver_io_learned_query_and_given_queries():
    torch.manual_seed(0)
    model = PerceiverIO(cfg(), query_dim=8, out_dim=10, num_learned_queries=1)
    x = torch.randn(3, 40, 5)
    assert model(x).shape == (3, 1, 10)
    assert model(x, torch.randn(3, 25, 8)).shape == (3, 25, 10)
    with pytest.raises(ValueError, match="learned queries"):
        PerceiverIO(cfg(), query_dim=8, out_dim=10)(x)


def naive_resampler(model, inputs):
    """The resampler recomputed with explicit per-head loops over the concatenated keys."""
    latents = model.latents.unsqueeze(0).expand(inputs.shape[0], -1, -1)
    for layer in model.layers:
        normed = layer.latent_norm(latents)
        kv = torch.cat([layer.input_norm(inputs), normed], 1)
        a = layer.attn
        q = a.to_q(normed)
        k, v = a.to_kv(kv).chunk(2, -1)
        heads = []
        for h in range(a.num_heads):
            sl = slice(h * a.head_dim, (h + 1) * a.head_dim)
            w = (q[..., sl] @ k[..., sl].transpose(1, 2) / math.sqrt(a.head_dim)).softmax(-1)
            heads.append(w @ v[..., sl])
        latents = latents + a.to_out(torch.cat(heads, -1))
        latents = latents + layer.mlp(latents)
    return model.norm(latents)


def test_resampler_fixed_output_size_and_matches_naive():
    torch.manual_seed(0)
    model = PerceiverResampler(dim=16, num_latents=5, depth=2, num_heads=4).double()
    for t in (1, 7, 300):
        inputs = torch.randn(2, t, 16).double()
        out = model(inputs)
        assert out.shape == (2, 5, 16)
        torch.testing.assert_close(out, naive_resampler(model, inputs))


def test_resampler_is_order_invariant_and_masks_padding():
    torch.manual_seed(0)
    model = PerceiverResampler(dim=8, num_latents=3, depth=1, num_heads=2).double()
    inputs = torch.randn(1, 10, 8).double()
    torch.testing.assert_close(model(inputs), model(inputs[:, torch.randperm(10)]))
    padded = torch.cat([inputs, torch.randn(1, 4, 8).double()], 1)
    mask = torch.tensor([[True] * 10 + [False] * 4])
    torch.testing.assert_close(model(padded, mask), model(inputs))
    with pytest.raises(ValueError, match=r"\(B, T, 8\)"):
        model(torch.randn(1, 4, 9))

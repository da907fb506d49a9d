"""Perceiver IO queries/decoding and the resampler's padding, checked against independent computations."""
import pytest
import torch

from perceiver_edu import PerceiverConfig, image_to_bytes
from perceiver_edu.model.perceiver_io import PerceiverIO, PerceiverIODecoder, position_queries
from perceiver_edu.model.resampler import PerceiverResampler, pad_tokens


def test_position_queries_are_the_encoders_position_channels():
    images = torch.rand(2, 1, 5, 7)
    positions = image_to_bytes(images, num_bands=3, max_freq=7.0)[:, :, 1:]  # (B, M, P): drop the grey value
    index = torch.tensor([[0, 6, 7, 34], [12, 12, 3, 20]])
    got = position_queries(index, (5, 7), num_bands=3, max_freq=7.0)
    assert got.shape == (2, 4, positions.shape[-1])
    torch.testing.assert_close(got, torch.stack([positions[0, index[b]] for b in range(2)]))
    # pixel (row 1, column 6) is index 13: its raw coordinates are the last two channels
    torch.testing.assert_close(position_queries(torch.tensor([[13]]), (5, 7), 3, 7.0)[0, 0, -2:],
                               torch.tensor([-0.5, 1.0]))


@pytest.mark.parametrize("index, match", [
    (torch.tensor([[0, 35]]), r"\[0, 35\)"),
    (torch.tensor([[-1]]), r"\[0, 35\)"),
    (torch.tensor([0, 1]), r"\(B, O\)"),
    (torch.tensor([[0.5]]), "integer"),
])
def test_position_queries_reject_bad_index(index, match):
    with pytest.raises(ValueError, match=match):
        position_queries(index, (5, 7), 3, 7.0)


def test_decode_in_chunks_equals_decoding_everything_and_scores_are_per_query():
    torch.manual_seed(0)
    cfg = PerceiverConfig(input_channels=5, num_classes=1, num_latents=6, latent_dim=16, num_cross_attends=2,
                          self_attends_per_block=1, self_heads=4)
    model = PerceiverIO(cfg, query_dim=8, out_dim=2).double().eval()
    x, queries = torch.randn(2, 30, 5).double(), torch.randn(2, 20, 8).double()
    latents = model.encode(x)
    whole = model.decode(latents, queries)
    torch.testing.assert_close(whole, model(x, queries))
    chunks = torch.cat([model.decode(latents, queries[:, i:i + 7]) for i in range(0, 20, 7)], 1)
    torch.testing.assert_close(chunks, whole)
    out, scores = model.decode(latents, queries, return_scores=True)
    torch.testing.assert_close(out, whole)
    assert scores.shape == (2, 1, 20, 6)  # (B, H, O, N)


def test_decoder_names_the_expected_widths():
    dec = PerceiverIODecoder(query_dim=9, latent_dim=16, out_dim=3)
    with pytest.raises(ValueError, match=r"queries \(B, O, 9\) and latents \(B, N, 16\)"):
        dec(torch.randn(1, 4, 9), torch.randn(1, 6, 15))


def test_pad_tokens_and_mixed_length_batch_equals_one_by_one():
    torch.manual_seed(0)
    model = PerceiverResampler(dim=8, num_latents=4, depth=2, num_heads=2).double()
    seqs = [torch.randn(t, 8).double() for t in (3, 11, 1, 6)]
    padded, mask = pad_tokens(seqs)
    assert padded.shape == (4, 11, 8) and mask.dtype == torch.bool
    assert mask.sum(1).tolist() == [3, 11, 1, 6]
    torch.testing.assert_close(padded[mask], torch.cat(seqs))
    assert (padded[~mask] == 0).all()
    batch = model(padded, mask)
    assert batch.shape == (4, 4, 8)  # fixed output size whatever the lengths
    for i, s in enumerate(seqs):
        torch.testing.assert_close(batch[i], model(s[None])[0])
    # the padding's values cannot matter
    noisy = padded.masked_fill(~mask[..., None], 1e3)
    torch.testing.assert_close(model(noisy, mask), batch)


def test_resampler_mask_errors_and_pad_errors():
    model = PerceiverResampler(dim=8, num_latents=4, depth=1, num_heads=2)
    with pytest.raises(ValueError, match="bool tensor of shape"):
        model(torch.randn(2, 5, 8), torch.ones(2, 5))
    with pytest.raises(ValueError, match="same width"):
        pad_tokens([torch.randn(3, 8), torch.randn(2, 7)])
    with pytest.raises(ValueError, match=r"\(T_i, D\)"):
        pad_tokens([])


def test_resampler_latents_attend_to_each_other():
    """With the latents in the keys/values, one latent's value changes the others' outputs,
    even when there is a single input token (the original Perceiver's cross-attend would not)."""
    torch.manual_seed(0)
    model = PerceiverResampler(dim=8, num_latents=3, depth=1, num_heads=2).double()
    inputs = torch.randn(1, 1, 8).double()
    before = model(inputs).detach().clone()
    with torch.no_grad():
        model.latents[2] += torch.randn(8).double()  # (a constant shift would vanish in the LayerNorm)
    after = model(inputs)
    assert not torch.allclose(before[0, 0], after[0, 0])

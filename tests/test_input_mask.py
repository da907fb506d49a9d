"""input_mask: examples with different numbers of inputs share a batch by padding; the result for
each example must be that of its real inputs alone, on every cross-attention path."""
import pytest
import torch

from perceiver_edu import Perceiver, PerceiverConfig

C = 7
PATHS = {  # C = 7 < D = 16 folds by default; keys and values made; chunks of the inputs
    "folded": dict(),
    "reference": dict(cross_attention="reference"),
    "chunked": dict(cross_attend_chunk_size=4),
    "chunked, unfolded": dict(cross_attend_chunk_size=4, cross_heads=4),  # heads of 4 < 7 channels: no fold
    "two heads": dict(cross_heads=2, cross_attention="reference"),
    "four heads, fast unfolded": dict(cross_heads=4),
}


def model(**kwargs):
    torch.manual_seed(0)
    config = PerceiverConfig(input_channels=C, num_classes=5, num_latents=6, latent_dim=16, num_cross_attends=3,
                             self_attends_per_block=1, self_heads=2, **kwargs)
    return Perceiver(config)


def padded_batch(lengths, m_max, seed=0):
    """Examples of ``lengths`` real inputs each, padded with large garbage to ``m_max``."""
    g = torch.Generator().manual_seed(seed)
    examples = [torch.randn(1, n, C, generator=g) for n in lengths]
    x = 100 * torch.randn(len(lengths), m_max, C, generator=g)  # padding: anything at all
    mask = torch.zeros(len(lengths), m_max, dtype=torch.bool)
    for i, (e, n) in enumerate(zip(examples, lengths)):
        x[i, :n] = e[0]
        mask[i, :n] = True
    return examples, x, mask


@pytest.mark.parametrize("path", PATHS)
def test_padded_batch_gives_each_example_its_own_result(path):
    net = model(**PATHS[path])
    lengths = [3, 11, 8]  # with chunks of 4: the first example's last two chunks are padding only
    examples, x, mask = padded_batch(lengths, 12)
    with torch.no_grad():
        batched = net(x, input_mask=mask)
        alone = torch.cat([net(e) for e in examples])
        unmasked = net(x)
    torch.testing.assert_close(batched, alone, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(unmasked, alone, atol=1e-3)  # without the mask the padding does count


@pytest.mark.parametrize("input_grad", [False, True], ids=["training on data", "gradient for the inputs too"])
@pytest.mark.parametrize("path", PATHS)
def test_gradients_ignore_padding(path, input_grad):
    net = model(**PATHS[path])
    examples, x, mask = padded_batch([3, 9], 12, seed=1)
    x.requires_grad_(input_grad)  # the folded cross-attend takes a different kernel when x needs no gradient
    net(x, input_mask=mask).sum().backward()
    batched = {n: p.grad.clone() for n, p in net.named_parameters()}
    if input_grad:
        assert torch.all(x.grad[~mask] == 0)  # nothing flows to the padding
    net.zero_grad()
    sum(net(e).sum() for e in examples).backward()
    for n, p in net.named_parameters():
        torch.testing.assert_close(batched[n], p.grad, rtol=1e-4, atol=1e-5, msg=n)


@pytest.mark.parametrize("path", ["folded", "reference", "chunked"])
def test_attention_maps_are_minus_infinity_on_padding(path):
    net = model(**PATHS[path])
    examples, x, mask = padded_batch([5, 12], 12, seed=2)
    with torch.no_grad():
        logits, maps = net(x, return_attention=True, input_mask=mask)
        _, maps_alone = net(examples[0], return_attention=True)
        torch.testing.assert_close(logits, net(x, input_mask=mask))
    for batched, alone in zip(maps, maps_alone):  # (B, N, M) per cross-attend
        assert torch.all(batched[0, :, 5:] == float("-inf"))
        torch.testing.assert_close(batched[0, :, :5], alone[0], rtol=1e-4, atol=1e-5)
        assert torch.isfinite(batched[1]).all()


def test_an_all_true_mask_changes_nothing():
    net = model()
    x = torch.randn(2, 9, C)
    with torch.no_grad():
        torch.testing.assert_close(net(x, input_mask=torch.ones(2, 9, dtype=torch.bool)), net(x))


def test_bad_masks_raise_clear_errors():
    net = model()
    x = torch.randn(2, 9, C)
    with pytest.raises(ValueError, match=r"bool tensor of shape \(B, M\) = \(2, 9\).*got torch.int64"):
        net(x, input_mask=torch.ones(2, 9, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(B, M\) = \(2, 9\).*got torch.bool \(2, 8\)"):
        net(x, input_mask=torch.ones(2, 8, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"got list"):
        net(x, input_mask=[[True] * 9] * 2)
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[1] = False
    with pytest.raises(ValueError, match=r"every input of example\(s\) \[1\]"):
        net(x, input_mask=mask)

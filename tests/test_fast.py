"""The fast cross-attention paths (model/fast.py) compute what the reference (model/blocks.py)
computes: keys/values reused across repeats, cross-attention over the inputs in chunks (online
softmax, checkpointed per chunk), the key/value projection folded into queries and outputs."""

import pytest
import torch

from perceiver_edu import Perceiver, PerceiverConfig
from perceiver_edu.model.attention import attention
from perceiver_edu.model.blocks import CrossAttention
from perceiver_edu.model.fast import FastCrossAttention, chunked_attention, normalise


def config(**kw):
    base = dict(input_channels=7, num_classes=3, num_latents=8, latent_dim=16, num_cross_attends=3,
                self_attends_per_block=1, self_heads=4)
    base.update(kw)
    return PerceiverConfig(**base)


def plain_encode(model, x):
    """The Perceiver's loop written naively: every repeat projects the inputs again."""
    latents = model.latents.expand(x.shape[0], -1, -1)
    for i in range(model.config.num_cross_attends):
        cross, latent_transformer = model.block(i)
        normed = cross.latent_norm(latents)
        q = cross.attn._split_heads(cross.attn.to_q(normed))
        k, v = cross.attn.to_kv(cross.input_norm(x)).chunk(2, dim=-1)
        out, _, _ = attention(q, cross.attn._split_heads(k), cross.attn._split_heads(v))
        b, h, n, d = out.shape
        latents = latents + cross.attn.to_out(out.transpose(1, 2).reshape(b, n, h * d))
        latents = latent_transformer(latents + cross.mlp(latents))
    return latents


@pytest.mark.parametrize("path", ["reference", "auto", "folded"])
@pytest.mark.parametrize("share", [True, False])
def test_every_path_equals_naive_loop(share, path):
    torch.manual_seed(0)
    model = Perceiver(config(share_weights=share, cross_heads=2, cross_attention=path)).double()
    x = torch.randn(2, 13, 7, dtype=torch.float64)
    torch.testing.assert_close(model.encode(x), plain_encode(model, x))


def test_chunked_attention_equals_softmax_attention():
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 3, 5, 4, generator=g, dtype=torch.float64) * 3  # large scores: stability matters
    inputs = torch.randn(2, 23, 6, generator=g, dtype=torch.float64)
    wk, wv = (torch.randn(6, 3 * 4, generator=g, dtype=torch.float64) for _ in range(2))

    def keys_values(chunk):
        b, m, _ = chunk.shape
        return [(chunk @ w).view(b, m, 3, 4).transpose(1, 2) for w in (wk, wv)]

    k, v = keys_values(inputs)
    want, _, want_scores = attention(q, k, v)
    for chunk_size in (1, 5, 23, 100):
        out, scores = chunked_attention(q, inputs, keys_values, chunk_size, return_scores=True)
        torch.testing.assert_close(out, want)
        torch.testing.assert_close(scores, want_scores)
        torch.testing.assert_close(chunked_attention(q, inputs, keys_values, chunk_size), want)


@pytest.mark.parametrize("chunk_size", [1, 4, 7, 50])
def test_chunked_model_equals_plain_values_gradients_maps(chunk_size):
    torch.manual_seed(0)
    plain = Perceiver(config(cross_heads=2, cross_attention="reference")).double()
    chunked = Perceiver(config(cross_heads=2, cross_attend_chunk_size=chunk_size)).double()
    chunked.load_state_dict(plain.state_dict())  # same keys and shapes: the option adds no weights
    x = torch.randn(2, 17, 7, dtype=torch.float64)
    x_plain, x_chunked = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_plain, out_chunked = plain(x_plain), chunked(x_chunked)
    torch.testing.assert_close(out_chunked, out_plain)
    weights = torch.randn_like(out_plain)
    (out_plain * weights).sum().backward()
    (out_chunked * weights).sum().backward()
    torch.testing.assert_close(x_chunked.grad, x_plain.grad)
    grads = dict(chunked.named_parameters())
    for name, p in plain.named_parameters():
        torch.testing.assert_close(grads[name].grad, p.grad, msg=lambda m: f"{name}: {m}")
    logits_p, maps_p = plain(x, return_attention=True)
    logits_c, maps_c = chunked(x, return_attention=True)
    torch.testing.assert_close(logits_c, logits_p)
    assert len(maps_c) == len(maps_p)
    for a, b in zip(maps_c, maps_p):
        torch.testing.assert_close(a, b)


def test_chunked_training_does_not_keep_per_chunk_keys():
    """Under autograd each chunk is checkpointed: nothing of size M is saved for the backward pass
    except (views of) the inputs themselves; the plain path saves keys, values, weights of size M."""
    m = 97

    def saved_shapes(chunk_size):
        torch.manual_seed(0)
        model = Perceiver(config(num_cross_attends=2, cross_attend_chunk_size=chunk_size))
        x = torch.randn(1, m, 7)
        saved = []

        def pack(t):
            saved.append(tuple(t.shape))
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = model(x).sum()
        loss.backward()
        return [s for s in saved if m in s and s != (1, m, 7)]

    assert saved_shapes(None)  # the plain path keeps (B, H, M, d) keys/values and (B, H, N, M) weights
    assert saved_shapes(8) == []


def test_bad_chunk_size_and_path():
    with pytest.raises(ValueError, match="cross_attend_chunk_size"):
        config(cross_attend_chunk_size=0)
    with pytest.raises(ValueError, match="cross_attention must be one of"):
        config(cross_attention="fast")
    with pytest.raises(ValueError, match="needs a fast path"):
        config(cross_attention="reference", cross_attend_chunk_size=4)


def test_chunked_inference_memory_is_bounded():
    from perceiver_edu.tools.profiling import peak_memory

    torch.manual_seed(0)
    x = torch.randn(1, 20_000, 7)
    peaks = {}
    for chunk in (None, 1000):
        model = Perceiver(config(num_cross_attends=2, cross_attend_chunk_size=chunk)).eval()
        with torch.no_grad():
            peaks[chunk] = peak_memory(lambda: model(x))
    # plain: normalised inputs + keys/values of all 20,000 inputs; chunked: of 1,000 at a time
    assert peaks[1000] < peaks[None] / 4, peaks


@pytest.mark.parametrize("cross_heads, chunk_size", [(1, None), (2, None), (1, 4)])
@pytest.mark.parametrize("input_grad", [True, False])
def test_folded_model_equals_reference_values_gradients_maps(cross_heads, chunk_size, input_grad):
    torch.manual_seed(0)
    # Inputs without a gradient (training on data) and few latents (H N <= C) take the folded
    # path's plain-product attention; otherwise the fused kernel.
    kw = dict(cross_heads=cross_heads, cross_attend_chunk_size=chunk_size, num_latents=8 if input_grad else 3)
    plain = Perceiver(config(cross_attention="reference", **{**kw, "cross_attend_chunk_size": None})).double()
    folded = Perceiver(config(cross_attention="folded", **kw)).double()
    folded.load_state_dict(plain.state_dict())  # the same parameters
    for p in plain.parameters():  # not the near-zero init, so that a wrong term would show
        p.data.add_(0.1 * torch.randn_like(p))
    folded.load_state_dict(plain.state_dict())
    assert all(c.fold for c in folded.cross_attends)
    assert all(type(c) is CrossAttention for c in plain.cross_attends)
    x = torch.randn(2, 17, 7, dtype=torch.float64)
    outs = []
    for model in (plain, folded):
        xg = x.clone().requires_grad_(input_grad)
        logits = model(xg)
        (logits * torch.arange(3.0, dtype=torch.float64)).sum().backward()
        outs.append((logits, xg.grad, {n: p.grad for n, p in model.named_parameters()}))
    (lp, gp, grads_p), (lf, gf, grads_f) = outs
    torch.testing.assert_close(lf, lp)
    if input_grad:
        torch.testing.assert_close(gf, gp)
    for name, grad in grads_p.items():
        torch.testing.assert_close(grads_f[name], grad, msg=name)
    _, maps_p = plain(x, return_attention=True)
    _, maps_f = folded(x, return_attention=True)
    for a, b in zip(maps_f, maps_p):  # the pre-softmax scores, key bias included
        torch.testing.assert_close(a, b)


def test_fold_is_chosen_when_inputs_are_narrower_than_a_head():
    # 7 input channels: a head of 16 folds, a head of 4 (4 heads of D = 16) does not
    assert Perceiver(config(cross_heads=1)).cross_attends[0].fold
    assert not Perceiver(config(cross_heads=4)).cross_attends[0].fold
    assert type(Perceiver(config(cross_heads=1, cross_attention="reference")).cross_attends[0]) is CrossAttention
    assert Perceiver(config(cross_heads=4, cross_attention="folded")).cross_attends[0].fold
    assert isinstance(Perceiver(config()).cross_attends[0], FastCrossAttention)


@pytest.mark.parametrize("requires_grad", [False, True])
def test_normalise_is_layer_norm_without_affine(requires_grad):
    x = (3 * torch.randn(4, 50, 19, dtype=torch.float64) + 2).requires_grad_(requires_grad)
    before = x.detach().clone()
    out, ref = normalise(x, 1e-5), torch.nn.functional.layer_norm(x, (19,), eps=1e-5)
    torch.testing.assert_close(out, ref)
    if requires_grad:  # gradients flow (the in-place scaling is only taken without them)
        g = torch.randn_like(ref)
        torch.testing.assert_close(torch.autograd.grad(out, x, g)[0], torch.autograd.grad(ref, x, g)[0])
    else:
        assert torch.equal(x, before)  # the input is left as it was


def _perturbed(model):
    """Parameters moved away from their near-zero initialisation, so that a wrong term would show."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model


@pytest.mark.parametrize("fast", [dict(cross_attention="auto"), dict(cross_attention="folded"),
                                  dict(cross_attention="auto", cross_heads=4),  # heads of 4 < 7 channels: unfolded
                                  dict(cross_attention="auto", cross_attend_chunk_size=5),
                                  dict(cross_attention="folded", cross_attend_chunk_size=5, cross_heads=4)])
@pytest.mark.parametrize("masked", [False, True])
def test_every_fast_path_equals_the_reference(fast, masked):
    """Same weights: same logits, input and parameter gradients and pre-softmax maps as the
    reference blocks, with and without a padding mask."""
    heads = fast.get("cross_heads", 1)
    reference = _perturbed(Perceiver(config(cross_attention="reference", cross_heads=heads)).double())
    model = Perceiver(config(**fast)).double()
    model.load_state_dict(reference.state_dict())  # same keys and shapes: a path adds no weights
    x = torch.randn(3, 17, 7, dtype=torch.float64)
    mask = torch.arange(17) < torch.tensor([[17], [9], [3]]) if masked else None
    results = []
    for net in (reference, model):
        xg = x.clone().requires_grad_()
        logits = net(xg, input_mask=mask)
        (logits * torch.arange(3.0, dtype=torch.float64)).sum().backward()
        _, maps = net(x, return_attention=True, input_mask=mask)
        results.append((logits, xg.grad, {n: p.grad for n, p in net.named_parameters()}, maps))
    (lr, gr, pr, mr), (lf, gf, pf, mf) = results
    torch.testing.assert_close(lf, lr)
    torch.testing.assert_close(gf, gr)
    for name, grad in pr.items():
        torch.testing.assert_close(pf[name], grad, msg=name)
    assert len(mf) == len(mr) == 3
    for a, b in zip(mf, mr):
        torch.testing.assert_close(a, b)  # -inf on padding in both


def test_a_checkpoint_saved_under_one_path_loads_under_another(tmp_path):
    from dataclasses import replace

    from perceiver_edu import ImagePerceiver, ImagePreprocess, load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    pre = ImagePreprocess(image_shape=(1, 6, 6), num_bands=2, max_freq=6.0)
    cfg = PerceiverConfig(input_channels=pre.byte_channels, num_classes=4, num_latents=4, latent_dim=16,
                          num_cross_attends=3, self_attends_per_block=1, self_heads=2)
    images = torch.rand(2, 1, 6, 6)
    logits = {}
    for path in ("auto", "reference", "folded"):
        saved = _perturbed(ImagePerceiver(replace(cfg, cross_attention=path), pre)).eval()
        save_checkpoint(saved, tmp_path / path)
        logits[path] = saved(images).detach()
    for saved_under in logits:
        loaded = load_checkpoint(tmp_path / saved_under)
        assert loaded.perceiver.config.cross_attention == saved_under
        for other in ("auto", "reference", "folded"):
            model = ImagePerceiver(replace(cfg, cross_attention=other), pre).eval()
            model.load_state_dict(loaded.state_dict())
            torch.testing.assert_close(model(images), logits[saved_under], rtol=1e-5, atol=1e-5)


def test_old_config_with_fold_kv_is_read():
    base = config().to_dict()
    base.pop("cross_attention")
    for fold_kv, path in ((None, "auto"), (True, "folded"), (False, "reference")):
        assert PerceiverConfig.from_dict({**base, "fold_kv": fold_kv}).cross_attention == path


def test_load_weights_accepts_any_path_and_still_refuses_other_sizes(tmp_path):
    from dataclasses import replace

    from perceiver_edu import ImagePerceiver, ImagePreprocess, save_checkpoint
    from perceiver_edu.training.checkpoint import load_weights

    pre = ImagePreprocess(image_shape=(1, 6, 6), num_bands=2, max_freq=6.0)
    cfg = PerceiverConfig(input_channels=pre.byte_channels, num_classes=4, num_latents=4, latent_dim=16,
                          num_cross_attends=2, self_attends_per_block=1, self_heads=2, cross_attention="folded")
    saved = _perturbed(ImagePerceiver(cfg, pre))
    save_checkpoint(saved, tmp_path)
    into = load_weights(ImagePerceiver(replace(cfg, cross_attention="reference"), pre), tmp_path)
    torch.testing.assert_close(into.state_dict(), saved.state_dict())
    with pytest.raises(ValueError, match="num_latents"):
        load_weights(ImagePerceiver(replace(cfg, num_latents=5), pre), tmp_path)

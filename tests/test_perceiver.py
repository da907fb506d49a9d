import pytest
import torch

from perceiver_edu import (ImagePerceiver, ImagePreprocess, Perceiver, PerceiverConfig, fourier_features,
                           image_to_bytes, position_grid)


def small_config(**kw):
    base = dict(input_channels=7, num_classes=3, num_latents=8, latent_dim=16, num_cross_attends=3,
                self_attends_per_block=1, self_heads=4)
    base.update(kw)
    return PerceiverConfig(**base)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_forward_shapes_and_any_m():
    torch.manual_seed(0)
    model = Perceiver(small_config())
    for m in (1, 50, 2000):
        logits, maps = model(torch.randn(2, m, 7), return_attention=True)
        assert logits.shape == (2, 3)
        assert len(maps) == 3 and all(a.shape == (2, 8, m) for a in maps)


def test_latents_init_truncated_normal():
    torch.manual_seed(0)
    latents = Perceiver(small_config(num_latents=256, latent_dim=64)).latents
    assert latents.abs().max() <= 0.04 + 1e-6
    assert 0.012 < latents.std().item() < 0.02  # a normal truncated at 2 sigma has std ~0.88 * 0.02


def test_permuting_inputs_permutes_maps_not_logits():
    torch.manual_seed(0)
    model = Perceiver(small_config()).double().eval()
    x = torch.randn(2, 30, 7, dtype=torch.float64)
    perm = torch.randperm(30)
    logits, maps = model(x, return_attention=True)
    logits_p, maps_p = model(x[:, perm], return_attention=True)
    torch.testing.assert_close(logits, logits_p)
    for a, a_p in zip(maps, maps_p):
        torch.testing.assert_close(a[..., perm], a_p)


def test_return_attention_does_not_change_logits():
    torch.manual_seed(0)
    model = Perceiver(small_config(cross_heads=2)).double()
    x = torch.randn(3, 11, 7, dtype=torch.float64)
    torch.testing.assert_close(model(x), model(x, return_attention=True)[0])


def test_maps_are_prescore_of_first_cross_attend():
    torch.manual_seed(0)
    model = Perceiver(small_config()).double()
    x = torch.randn(1, 10, 7, dtype=torch.float64)
    _, maps = model(x, return_attention=True)
    cross = model.cross_attends[0]
    q = cross.attn.to_q(cross.latent_norm(model.latents))  # (N, D)
    k = cross.attn.to_kv(cross.input_norm(x[0]))[:, :16]  # (M, D)
    torch.testing.assert_close(maps[0][0], q @ k.T / 16 ** 0.5)


def test_parameter_count_independent_of_m_and_sharing():
    # the same weights serve every M: the state is unchanged by forwards of different sizes
    model = Perceiver(small_config())
    before = {k: v.shape for k, v in model.state_dict().items()}
    for m in (3, 300):
        model(torch.randn(1, m, 7))
    assert {k: v.shape for k, v in model.state_dict().items()} == before
    shared = [n_params(Perceiver(small_config(num_cross_attends=L))) for L in (1, 2, 3, 8)]
    assert shared[0] < shared[1] == shared[2] == shared[3]
    unshared = [n_params(Perceiver(small_config(num_cross_attends=L, share_weights=False))) for L in (2, 3, 8)]
    assert shared[1] < unshared[0] < unshared[1] < unshared[2]  # one more latent transformer per repeat


def test_shared_weights_are_the_same_modules():
    model = Perceiver(small_config(num_cross_attends=4))
    assert model.block(1)[0] is model.block(3)[0] and model.block(0)[0] is not model.block(1)[0]
    assert model.block(0)[1] is model.block(3)[1]


def test_bad_inputs_raise_clear_errors():
    model = Perceiver(small_config())
    with pytest.raises(ValueError, match=r"9 channels.*input_channels=7"):
        model(torch.randn(2, 5, 9))
    with pytest.raises(ValueError, match=r"\(B, M, C\)"):
        model(torch.randn(5, 7))
    with pytest.raises(ValueError, match="M=0"):
        model(torch.randn(2, 0, 7))
    with pytest.raises(ValueError, match="divisible"):
        small_config(latent_dim=18)


def test_no_dropout_and_deterministic():
    model = Perceiver(small_config()).train()
    assert not any(isinstance(m, torch.nn.Dropout) for m in model.modules())
    x = torch.randn(2, 5, 7)
    torch.testing.assert_close(model(x), model(x))


def test_image_to_bytes_layout():
    images = torch.rand(2, 3, 4, 5)
    x = image_to_bytes(images, num_bands=2, max_freq=4.0)
    assert x.shape == (2, 20, 3 + 2 * 5)
    torch.testing.assert_close(x[1, 7, :3], images[1, :, 1, 2])  # pixel (row 1, col 2) is element 1*5+2
    torch.testing.assert_close(x[0, 7, 3:], fourier_features(position_grid((4, 5))[1, 2], 2, 4.0))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        image_to_bytes(torch.rand(3, 4, 5), 2, 4.0)


def test_image_perceiver_matches_manual_pipeline():
    pre = ImagePreprocess(image_shape=(1, 6, 6), num_bands=3, max_freq=6.0, mean=0.5, std=0.25)
    model = ImagePerceiver(small_config(input_channels=pre.byte_channels), pre)
    images = torch.rand(2, 1, 6, 6)
    manual = model.perceiver(image_to_bytes((images - 0.5) / 0.25, 3, 6.0))
    torch.testing.assert_close(model(images), manual)
    with pytest.raises(ValueError, match=r"\(B, 1, 6, 6\)"):
        model(torch.rand(2, 1, 7, 7))
    with pytest.raises(ValueError, match="input_channels"):
        ImagePerceiver(small_config(input_channels=5), pre)

"""Fusion of byte arrays, the multimodal Perceiver, AV-MNIST pairing and modality dropout."""
import pytest
import torch

from perceiver_edu.inputs.audio import spectrogram_to_bytes
from perceiver_edu.inputs.images import image_to_bytes
from perceiver_edu.data.av_mnist import make_av_pairs, pair_by_label
from perceiver_edu.inputs.multimodal import Modality, MultimodalPerceiver, fuse_byte_arrays, modality_slices, pack
from perceiver_edu.model.perceiver import PerceiverConfig


def test_fuse_shapes_padding_and_embedding_broadcast():
    g = torch.Generator().manual_seed(0)
    a, v = torch.randn(2, 5, 3, generator=g), torch.randn(2, 4, 6, generator=g)
    emb = torch.randn(2, 4, generator=g)
    out = fuse_byte_arrays([a, v], emb)
    assert out.shape == (2, 9, 6 + 4)
    # naive element by element
    for b in range(2):
        for m in range(9):
            src, i = (a, 0) if m < 5 else (v, 1)
            row = src[b, m if m < 5 else m - 5]
            assert torch.equal(out[b, m, :src.shape[-1]], row)
            assert torch.all(out[b, m, src.shape[-1]:6] == 0)  # zero padding after the channels
            assert torch.equal(out[b, m, 6:], emb[i])  # the same embedding on every element
    assert out.shape[-1] == fuse_byte_arrays([a, v], emb, width=6).shape[-1]
    assert fuse_byte_arrays([a, v], emb, width=8).shape == (2, 9, 12)


def test_fuse_embedding_gets_gradients():
    emb = torch.zeros(2, 3, requires_grad=True)
    fuse_byte_arrays([torch.randn(1, 2, 4), torch.randn(1, 5, 2)], emb).sum().backward()
    assert torch.equal(emb.grad, torch.tensor([[2.0] * 3, [5.0] * 3]))  # one count per element


@pytest.mark.parametrize("arrays, emb, match", [
    ([], torch.zeros(0, 2), "non-empty"),
    ([torch.zeros(2, 3)], torch.zeros(1, 2), "shape \\(B, M_i, C_i\\)"),
    ([torch.zeros(2, 3, 4), torch.zeros(3, 3, 4)], torch.zeros(2, 2), "same batch size"),
    ([torch.zeros(2, 3, 4)], torch.zeros(2, 2), "num_modalities, E"),
])
def test_fuse_rejects_bad_input(arrays, emb, match):
    with pytest.raises(ValueError, match=match):
        fuse_byte_arrays(arrays, emb)


def test_fuse_rejects_too_small_width():
    with pytest.raises(ValueError, match="smaller than the widest"):
        fuse_byte_arrays([torch.zeros(1, 2, 5)], torch.zeros(1, 2), width=3)


def test_modality_slices():
    assert modality_slices([3, 4]) == [slice(0, 3), slice(3, 7)]


def small_model(dropout=0.0):
    mods = [Modality("audio", (4, 6), 3, 6), Modality("image", (5, 5), 2, 5)]
    cfg = PerceiverConfig(input_channels=MultimodalPerceiver.input_channels(mods, 3), num_classes=10, num_latents=4,
                          latent_dim=16, num_cross_attends=1, self_attends_per_block=1, self_heads=2, widening=1)
    return MultimodalPerceiver(cfg, mods, embed_dim=3, modality_dropout=dropout), mods


def test_multimodal_byte_arrays_match_the_package_adapters():
    model, mods = small_model()
    spec, img = torch.randn(2, 4, 6), torch.rand(2, 5, 5)
    arrays = model.byte_arrays(pack(spec, img))
    assert torch.allclose(arrays[0], spectrogram_to_bytes(spec, 3, 6))
    assert torch.allclose(arrays[1], image_to_bytes(img.unsqueeze(1), 2, 5))
    fused = model.fuse(pack(spec, img))
    assert fused.shape == (2, 24 + 25, max(m.byte_channels for m in mods) + 3)
    assert model(pack(spec, img)).shape == (2, 10)


def test_only_leaves_the_other_modality_out():
    model, _ = small_model()
    model.eval()
    x = pack(torch.randn(2, 4, 6), torch.rand(2, 5, 5))
    with model.only("image"):
        out = model(x)
        assert model.present == ("image",)
    assert model.present == ("audio", "image")
    # the image-only output is the Perceiver on the image rows of the fused array alone
    fused = model.fuse(x)
    assert torch.allclose(out, model.perceiver(fused[:, 24:]), atol=1e-6)
    with pytest.raises(ValueError, match="unknown"):
        with model.only("video"):
            pass


def test_modality_dropout_masks():
    model, _ = small_model(dropout=0.5)
    model.train()
    kept = [tuple(model.kept_modalities()) for _ in range(400)]
    counts = {k: kept.count(k) for k in set(kept)}
    assert set(counts) == {(0, 1), (0,), (1,)}  # never both dropped
    assert 0.4 < counts[(0, 1)] / 400 < 0.6  # p = 0.5 of dropping one
    assert abs(counts[(0,)] - counts[(1,)]) < 60  # the dropped one is uniform
    model.eval()
    assert all(model.kept_modalities() == [0, 1] for _ in range(20))  # no dropout at test time
    model.generator.manual_seed(3)
    model.train()
    a = [tuple(model.kept_modalities()) for _ in range(30)]
    model.generator.manual_seed(3)
    assert a == [tuple(model.kept_modalities()) for _ in range(30)]  # reproducible


def test_input_channels_checked():
    mods = [Modality("a", (4,), 2, 4)]
    with pytest.raises(ValueError, match="input_channels"):
        MultimodalPerceiver(PerceiverConfig(input_channels=3, num_classes=2, latent_dim=8, self_heads=2), mods, 2)


def test_pair_by_label_matches_labels_and_is_deterministic():
    g = torch.Generator().manual_seed(1)
    audio = torch.randint(0, 10, (200,), generator=g)
    images = torch.randint(0, 10, (150,), generator=g)
    idx = pair_by_label(audio, images, seed=4)
    assert torch.equal(images[idx], audio)
    assert torch.equal(idx, pair_by_label(audio, images, seed=4))
    assert not torch.equal(idx, pair_by_label(audio, images, seed=5))
    # partners are reused only when a class runs out
    for c in range(10):
        n_items, n_partners = int((audio == c).sum()), int((images == c).sum())
        used = idx[audio == c]
        assert len(used.unique()) == min(n_items, n_partners)
    with pytest.raises(ValueError, match="no partner"):
        pair_by_label(torch.tensor([0, 1]), torch.tensor([0, 0]))


class _Audio:
    def __init__(self, labels):
        self.labels = labels
        self.waveforms = torch.randn(len(labels), 16)
        self.speakers = ["x"] * len(labels)
        self.sample_rate, self.classes = 8000, tuple(str(i) for i in range(10))


class _Images:
    def __init__(self, labels):
        self.labels = labels
        self.images = torch.rand(len(labels), 1, 28, 28)


def test_make_av_pairs():
    audio, images = _Audio(torch.tensor([3, 1, 3, 0])), _Images(torch.tensor([0, 1, 3, 3, 3, 1]))
    av = make_av_pairs(audio, images, seed=0)
    assert len(av) == 4 and torch.equal(av.labels, audio.labels)
    assert torch.equal(images.labels[av.image_index], av.labels)
    assert torch.equal(av.images, images.images[av.image_index])
    assert av[1][1].shape == (1, 28, 28)

"""Attention-map measures against naive loops / numpy, figures under Agg, the widget headlessly."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import perceiver_edu as pe  # noqa: E402
from perceiver_edu.plots import attention_maps as viz  # noqa: E402
from perceiver_edu.plots.explorer import ALL_LATENTS, attention_explorer, perturb  # noqa: E402


@pytest.fixture(scope="module")
def model():
    pre = pe.ImagePreprocess(image_shape=(1, 12, 10), num_bands=4, max_freq=10.0)
    cfg = pe.PerceiverConfig(input_channels=pre.byte_channels, num_classes=3, num_latents=6, latent_dim=16,
                             num_cross_attends=3, self_attends_per_block=1, self_heads=2)
    torch.manual_seed(0)
    return pe.ImagePerceiver(cfg, pre).eval()


@pytest.fixture(scope="module")
def images():
    return torch.rand(4, 1, 12, 10, generator=torch.Generator().manual_seed(1))


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_attention_maps_shapes(model, images):
    logits, maps = viz.attention_maps(model, images)
    assert logits.shape == (4, 3)
    assert len(maps) == 3 and all(m.shape == (4, 6, 120) for m in maps)
    w = viz.softmax_weights(maps[1])
    assert torch.allclose(w.sum(-1), torch.ones(4, 6)) and (w >= 0).all()


# centre of mass ---------------------------------------------------------------------------------
def naive_center_of_mass(weights_hw: np.ndarray):
    h, w = weights_hw.shape
    total = row = col = 0.0
    for r in range(h):
        for c in range(w):
            total += weights_hw[r, c]
            row += r * weights_hw[r, c]
            col += c * weights_hw[r, c]
    return row / total, col / total


def test_center_of_mass_of_a_single_peak():
    maps = torch.zeros(2, 3, 7 * 5)
    peaks = [(0, 0), (6, 4), (3, 1), (5, 0), (2, 2), (1, 3)]
    for k, (r, c) in enumerate(peaks):
        maps[k // 3, k % 3, r * 5 + c] = 2.5
    com = viz.attention_center_of_mass(maps, (7, 5))
    assert com.shape == (2, 3, 2)
    assert torch.allclose(com.reshape(-1, 2), torch.tensor(peaks, dtype=torch.float32))


def test_center_of_mass_matches_naive_loop():
    g = torch.Generator().manual_seed(0)
    weights = torch.rand(3, 4, 6 * 9, generator=g).double() ** 3
    com = viz.attention_center_of_mass(weights, (6, 9))
    for b in range(3):
        for n in range(4):
            want = naive_center_of_mass(weights[b, n].reshape(6, 9).numpy())
            assert np.allclose(com[b, n].numpy(), want)


def test_center_of_mass_rejects_scores_and_bad_shapes():
    with pytest.raises(ValueError, match="softmax"):
        viz.attention_center_of_mass(torch.randn(2, 16), (4, 4))
    with pytest.raises(ValueError, match="M=16"):
        viz.attention_center_of_mass(torch.rand(2, 16), (3, 4))


# correlation ------------------------------------------------------------------------------------
def test_map_image_correlation_matches_numpy(model, images):
    _, maps = viz.attention_maps(model, images)
    corr = viz.map_image_correlation(maps[0], images)
    assert corr.shape == (4, 6)
    for b in range(4):
        for n in range(6):
            want = np.corrcoef(maps[0][b, n].numpy(), images[b, 0].flatten().numpy())[0, 1]
            assert corr[b, n].item() == pytest.approx(want, abs=1e-5)
    single = viz.map_image_correlation(maps[0][2], images[2])  # (N, M) with (C, H, W)
    assert torch.allclose(single, corr[2], atol=1e-6)


def test_map_image_correlation_extremes_and_errors():
    image = torch.rand(1, 4, 4)
    maps = torch.stack([image.flatten(), -3 * image.flatten() + 1, torch.ones(16)])  # (3, 16)
    corr = viz.map_image_correlation(maps, image)
    assert corr[0].item() == pytest.approx(1.0, abs=1e-6)
    assert corr[1].item() == pytest.approx(-1.0, abs=1e-6)
    assert torch.isnan(corr[2])  # a constant map has no correlation
    with pytest.raises(ValueError, match="do not match"):
        viz.map_image_correlation(torch.rand(2, 3, 16), torch.rand(2, 1, 5, 5))


# position R² ------------------------------------------------------------------------------------
def test_position_explained_variance(model):
    positions = model.positions[0]  # (M, P)
    g = torch.Generator().manual_seed(0)
    coef = torch.randn(positions.shape[1], generator=g)
    pure = positions @ coef + 3.0  # a map made of the position features only
    noise = torch.randn(positions.shape[0], generator=g)
    r2 = viz.position_explained_variance(torch.stack([pure, noise]), positions)
    assert r2[0].item() == pytest.approx(1.0, abs=1e-6)
    x = np.c_[np.ones(len(positions)), positions.numpy()]
    fit, *_ = np.linalg.lstsq(x, noise.numpy(), rcond=None)
    want = 1 - ((noise.numpy() - x @ fit) ** 2).sum() / ((noise.numpy() - noise.numpy().mean()) ** 2).sum()
    assert r2[1].item() == pytest.approx(want, abs=1e-5)
    with pytest.raises(ValueError, match="positions must be"):
        viz.position_explained_variance(torch.rand(2, 50), positions)


def test_power_spectrum_matches_numpy_and_finds_a_lattice():
    g = torch.Generator().manual_seed(0)
    maps = torch.randn(2, 3, 6 * 8, generator=g).double()
    spectrum = viz.map_power_spectrum(maps, (6, 8))
    grids = maps.reshape(-1, 6, 8).numpy()
    grids = grids - grids.mean(axis=(1, 2), keepdims=True)
    want = np.fft.fftshift(np.mean([np.abs(np.fft.fft2(x)) ** 2 for x in grids], axis=0))
    assert spectrum.shape == (6, 8) and np.allclose(spectrum.numpy(), want)
    rows, cols = torch.meshgrid(torch.arange(6.0), torch.arange(8.0), indexing="ij")
    lattice = (torch.sin(2 * torch.pi * 2 * rows / 6) + torch.cos(2 * torch.pi * 3 * cols / 8)).flatten()
    spectrum = viz.map_power_spectrum(lattice, (6, 8))
    assert viz.axis_power_fraction(spectrum) == pytest.approx(1.0)
    assert spectrum[6 // 2 + 2, 8 // 2] > 0 and spectrum[6 // 2, 8 // 2 + 3] > 0  # the two frequencies
    blob = torch.exp(-((rows - 2.5) ** 2 + (cols - 3.5) ** 2) / 2).flatten()  # not separable as a sum
    assert viz.axis_power_fraction(viz.map_power_spectrum(blob, (6, 8))) < 0.9


def test_axis_power_fraction_above_min_cycles_against_a_naive_sum():
    g = torch.Generator().manual_seed(1)
    spectrum = torch.rand(28, 28, generator=g).double()
    want = sum(spectrum[i, j].item() for i in range(28) for j in range(28)
               if (j == 14 and abs(i - 14) >= 7) or (i == 14 and abs(j - 14) >= 7)) / spectrum.sum().item()
    assert viz.axis_power_fraction(spectrum, 7) == pytest.approx(want)
    rows, cols = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    fine = torch.cos(2 * torch.pi * 10 * cols / 28).flatten()  # 10 cycles per image along the columns
    coarse = torch.cos(2 * torch.pi * 2 * rows / 28).flatten()  # 2 cycles per image along the rows
    assert viz.axis_power_fraction(viz.map_power_spectrum(fine, (28, 28)), 7) == pytest.approx(1.0)
    assert viz.axis_power_fraction(viz.map_power_spectrum(coarse, (28, 28)), 7) == pytest.approx(0.0, abs=1e-9)
    want_all = sum(spectrum[i, j].item() for i in range(28) for j in range(28)
                   if i == 14 or j == 14) / spectrum.sum().item()  # frequency 0 (14, 14) counted once
    assert viz.axis_power_fraction(spectrum) == pytest.approx(want_all)
    with pytest.raises(ValueError, match="min_cycles must be in 0..14"):
        viz.axis_power_fraction(spectrum, 15)


# figures ----------------------------------------------------------------------------------------
def titled(fig):
    return bool(fig._suptitle and fig._suptitle.get_text())


def test_figures_draw_with_agg(model, images):
    _, maps = viz.attention_maps(model, images)
    fig = viz.plot_attention_grid(images, maps, cross_attends=[0, 1, -1], latents=[0, 5], index=1)
    assert titled(fig) and len(fig.axes) == 1 + 3 * 2
    assert fig.axes[0].get_xlabel() == "column (pixels)"
    assert fig.axes[1].images[0].get_array().shape == (12, 10)
    fig = viz.plot_attention_grid(images[1], [m[1] for m in maps], weights=True, latents=[0])
    assert np.isclose(fig.axes[1].images[0].get_array().sum(), 1.0, atol=1e-5)  # weights sum to 1
    fig = viz.plot_latent_grid(images, maps[2], ncols=4)
    assert titled(fig) and len(fig.axes) == 1 + 6
    fig = viz.overlay_weights(images[0], viz.softmax_weights(maps[0][0]), latents=[1, 2])
    assert titled(fig) and len(fig.axes) == 2
    com = viz.attention_center_of_mass(viz.softmax_weights(maps[0]), (12, 10))  # (B, N, 2)
    fig = viz.plot_centers_of_mass({"untrained": com.mean(0), "again": com[0]},
                                   spread={"untrained": com.std(0).norm(dim=-1)}, shape=(12, 10),
                                   image=images.mean(0))
    assert titled(fig) and fig.axes[0].get_ylabel() == "row (pixels)"
    fig.canvas.draw()


def test_centre_labels_do_not_overlap():
    centres = torch.tensor([[5.0, 5.0], [5.2, 5.1], [9.0, 9.0], [5.0, 6.4], [5.0, 6.6]])  # (N, 2)
    fig = viz.plot_centers_of_mass({"latents": centres})
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert labels == ["0", "2", "4"]  # 1 sits on 0; 3 is 1.4 px from 0; 4 is 1.6 px from 0 and far from 2


def test_figure_errors(model, images):
    _, maps = viz.attention_maps(model, images)
    with pytest.raises(IndexError, match="cross-attend 5"):
        viz.plot_attention_grid(images, maps, cross_attends=[5])
    with pytest.raises(ValueError, match="negative"):
        viz.overlay_weights(images[0], maps[0][0])
    with pytest.raises(ValueError, match="has 100 pixels but the maps have M=120"):
        viz.plot_latent_grid(images[..., :10, :], maps[0])  # an image that does not fit the maps
    with pytest.raises(ValueError, match="not a square"):
        viz.attention_center_of_mass(torch.rand(3, 120), None)
    with pytest.raises(ValueError, match="list"):
        viz.plot_attention_grid(images, maps[0])


# widget -----------------------------------------------------------------------------------------
def image_data(fig):
    return [im.get_array().copy() for ax in fig.axes for im in ax.images]


def changed(before, after):
    return len(before) != len(after) or any(a.shape != b.shape or not np.allclose(a, b)
                                            for a, b in zip(before, after))


def test_perturb():
    image = torch.full((1, 8, 8), 0.5)
    assert torch.equal(perturb(image), image)
    occluded = perturb(image, occlusion=4)
    assert occluded[0, 2:6, 2:6].eq(0).all() and occluded.sum() == 0.5 * (64 - 16)
    noisy = perturb(image, noise=0.2, seed=3)
    assert not torch.equal(noisy, image) and torch.equal(noisy, perturb(image, noise=0.2, seed=3))
    assert noisy.min() >= 0 and noisy.max() <= 1


def test_explorer_controls_are_findable(model, images):
    ex = attention_explorer(model, images.reshape(4, 1, 12, 10), labels=[0, 1, 2, 0], classes=["a", "b", "c"])
    for name in ("image", "noise", "occlusion", "cross_attend", "latent", "mode"):
        control = getattr(ex, name)
        assert control.description, name
        assert f"pe-{name.replace('_', '-')}" in control._dom_classes
    assert ex.image.max == 3
    assert [v for _, v in ex.cross_attend.options] == [0, 1, 2]
    assert [v for _, v in ex.latent.options] == [ALL_LATENTS, 0, 1, 2, 3, 4, 5]


def test_explorer_controls_change_the_figure(model, images):
    ex = attention_explorer(model, images, labels=[0, 1, 2, 0], classes=["a", "b", "c"])
    _, maps = viz.attention_maps(model, images)
    assert np.allclose(ex.shown, maps[0][0, 0].numpy(), atol=1e-6)  # image 0, cross-attend 1, latent 0, scores
    steps = [("image", 2), ("cross_attend", 2), ("latent", 4), ("mode", "weights"), ("noise", 0.5),
             ("occlusion", 6), ("latent", ALL_LATENTS), ("mode", "scores")]
    for name, value in steps:
        before, shown_before = image_data(ex.figure), ex.shown.copy()
        getattr(ex, name).value = value
        assert changed(before, image_data(ex.figure)), f"setting {name}={value!r} did not change the figure"
        assert changed([shown_before], [ex.shown]), name
    assert ex.shown.shape == (6, 120)  # all latents, scores
    assert ex.figure._suptitle.get_text().startswith("image 2 (c)")
    ex.noise.value, ex.occlusion.value, ex.latent.value = 0.0, 0, 1
    assert np.allclose(ex.shown, maps[2][2, 1].numpy(), atol=1e-5)  # back to the clean image 2
    ex.mode.value = "weights"
    assert ex.shown.sum() == pytest.approx(1.0, abs=1e-5)


def test_explorer_renders_a_png_without_pyplot(model, images):
    ex = attention_explorer(model, images)
    ex.latent.value = ALL_LATENTS
    png = ex.png()
    assert png.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert "image=0" in repr(ex) and "latent=-1" in repr(ex)


def test_label_title_marks_wrong_predictions_in_red():
    from perceiver_edu.plots.images import label_title

    labels, predictions = torch.tensor([1, 2]), torch.tensor([1, 0])
    assert label_title(0, labels, predictions, ["a", "b", "c"]) == ("b → b", "black")
    assert label_title(1, labels, predictions, ["a", "b", "c"], sep="\n") == ("c\n→ a", "red")
    assert label_title(1, labels) == ("2", "black")

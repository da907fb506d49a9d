"""Ablations (chapter 5): the variants differ in exactly one choice; the noise estimates are right."""
import math
import statistics

import pytest
import torch

from perceiver_edu.data.mnist import ImageDataset
from perceiver_edu.training.ablations import (AblationBudget, Summary, Variant, VariantResult, ablation_variants,
                                              binomial_standard_error, build_variant, compare, summarise,
                                              train_variant)

TINY = AblationBudget(num_latents=4, latent_dim=8, self_attends_per_block=1, self_heads=2, num_bands=2,
                      max_freq=8.0, steps=300, batch_size=16, lr=1e-2, warmup=3)


def halves(n=192, seed=0):
    """8x8 images with one bright 2x2 square in the left half (class 0) or the right half (class 1).

    Both classes have the same pixel values (4 bright, 60 dark): only *where* the bright pixels are
    tells them apart, so a model without positions cannot beat chance."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    rows, cols = torch.randint(0, 7, (n,), generator=g), torch.randint(0, 3, (n,), generator=g)
    images = torch.zeros(n, 1, 8, 8)
    for i in range(n):
        c = int(cols[i]) + 4 * int(labels[i])
        images[i, 0, rows[i]:rows[i] + 2, c:c + 2] = 1.0
    return ImageDataset(images, labels, ["left", "right"], "halves")


def test_the_ablations_change_one_choice_each():
    ablations = ablation_variants()
    assert list(ablations) == ["positions", "cross-attends", "weight sharing"]
    reference = ablations["positions"][1]
    assert [v.positions for v in ablations["positions"]] == ["none", "fourier", "learned"]
    assert [v.num_cross_attends for v in ablations["cross-attends"]] == [1, 2, 4]
    assert reference in ablations["cross-attends"]
    assert [v.share_weights for v in ablations["weight sharing"]] == [True, False]
    assert {v.num_cross_attends for v in ablations["weight sharing"]} == {4}
    with pytest.raises(ValueError, match="positions must be one of"):
        Variant("bad", positions="sinusoidal")
    with pytest.raises(ValueError, match="num_cross_attends must be >= 1"):
        Variant("bad", num_cross_attends=0)


def test_no_positions_means_a_set_of_pixel_values():
    images = torch.rand(3, 1, 8, 8)
    perm = torch.randperm(64, generator=torch.Generator().manual_seed(0))
    shuffled = images.flatten(2)[:, :, perm].reshape(3, 1, 8, 8)
    outputs = {}
    for positions in ("none", "fourier", "learned"):
        torch.manual_seed(0)
        model = build_variant(Variant(positions, positions=positions), TINY, (1, 8, 8), num_classes=3).eval()
        with torch.no_grad():
            outputs[positions] = (model(images), model(shuffled))
        x = model.to_bytes(images)
        assert x.shape == (3, 64, 1 + 2 * (2 * TINY.num_bands + 1))  # same byte-array width for all three
    # no positions: shuffling the pixels changes nothing; with positions it does
    assert torch.allclose(*outputs["none"], atol=1e-5)
    assert not torch.allclose(*outputs["fourier"], atol=1e-3)
    torch.manual_seed(0)
    none = build_variant(Variant("none", positions="none"), TINY, (1, 8, 8))
    assert (none.positions == none.positions[:, :1]).all() and none.positions[0, 0].std() > 0.1
    # ... and the pixel value still reaches the latents: the input LayerNorm does not erase it
    with torch.no_grad():
        normed = none.perceiver.cross_attends[0].input_norm(none.to_bytes(torch.tensor([0.1, 0.5]).view(2, 1, 1, 1)
                                                                          .expand(2, 1, 8, 8)))
    assert (normed[0, 0] - normed[1, 0]).abs().max() > 0.1


def test_sharing_and_cross_attends_set_the_blocks():
    counts = {}
    for v in ablation_variants()["cross-attends"] + ablation_variants()["weight sharing"]:
        model = build_variant(v, TINY, (1, 8, 8))
        counts[v.name] = (len(model.perceiver.cross_attends), len(model.perceiver.latent_transformers))
        assert model.config.num_cross_attends == v.num_cross_attends
    assert counts == {"1 cross-attend": (1, 1), "Fourier, 2 cross-attends, shared": (2, 1),
                      "4 cross-attends, shared": (2, 1), "4 cross-attends, not shared": (4, 4)}


def test_binomial_standard_error():
    assert binomial_standard_error(0.5, 100) == pytest.approx(0.05)
    # naive: the standard deviation of the mean of n Bernoulli(p) draws, by its definition
    p, n = 0.8, 400
    assert binomial_standard_error(p, n) == pytest.approx(math.sqrt((p * (1 - p) ** 2 + (1 - p) * p ** 2) / n))
    with pytest.raises(ValueError, match="need n >= 1"):
        binomial_standard_error(1.2, 10)


def test_train_variant_learns_where_positions_matter():
    torch.set_num_threads(1)  # a model this small trains fastest on one thread
    train_set, test_set = halves(seed=0), halves(n=200, seed=1)
    fourier = train_variant(Variant("fourier"), train_set, test_set, seed=0, budget=TINY, device="cpu")
    none = train_variant(Variant("none", positions="none"), train_set, test_set, seed=0, budget=TINY, device="cpu")
    assert isinstance(fourier, VariantResult) and fourier.n_test == 200
    assert fourier.standard_error == pytest.approx(binomial_standard_error(fourier.accuracy, 200))
    assert fourier.accuracy > 0.9  # rows vs columns: easy with positions
    assert abs(none.accuracy - 0.5) < 4 * none.standard_error + 0.05  # impossible without: chance
    again = train_variant(Variant("fourier"), train_set, test_set, seed=0, budget=TINY, device="cpu")
    assert again.accuracy == fourier.accuracy  # deterministic for a seed


def test_summarise_against_a_naive_computation():
    a, b = Variant("a"), Variant("b", positions="none")
    results = [VariantResult(a, 0, 0.70, 0.0, 1000, 10, 1.0), VariantResult(b, 0, 0.30, 0.0, 1000, 10, 1.0),
               VariantResult(a, 1, 0.74, 0.0, 1000, 10, 1.0), VariantResult(b, 1, 0.31, 0.0, 1000, 10, 1.0)]
    sa, sb = summarise(results)
    assert isinstance(sa, Summary) and sa.variant == a and sb.variant == b
    assert sa.accuracies == [0.70, 0.74] and sa.mean == pytest.approx(0.72)
    assert sa.seed_se == pytest.approx(statistics.stdev([0.70, 0.74]) / math.sqrt(2))  # = |a - b| / 2
    assert sa.seed_se == pytest.approx(0.02)
    assert sa.binomial_se == pytest.approx(math.sqrt(0.72 * 0.28 / 2000))
    assert sa.se == max(sa.seed_se, sa.binomial_se)
    assert sb.se == sb.binomial_se  # the two seeds agree better than the test set can resolve
    diff, z = compare(sa, sb)
    assert diff == pytest.approx(0.305 - 0.72) and z == pytest.approx(diff / math.sqrt(sa.se ** 2 + sb.se ** 2))


def test_table_and_verdicts_read_the_summaries(monkeypatch):
    from perceiver_edu.training import ablations as module

    accuracy = {"none": 0.30, "fourier": 0.70, "learned": 0.56}
    fake = lambda v, tr, te, seed, budget, device: VariantResult(  # noqa: E731
        v, seed, accuracy[v.positions] + 0.01 * seed + 0.001 * v.num_cross_attends, 0.0, 1000, 7, 0.0)
    monkeypatch.setattr(module, "train_variant", fake)
    run = module.run_ablations(None, None, budget=TINY, seeds=(0, 1), progress=False)
    assert len(run.results) == 2 * 6  # 6 distinct variants (two appear in two ablations), 2 seeds
    table = module.ablation_table(run).splitlines()
    assert len(table) == 2 + 8  # header, rule, 3 + 3 + 2 rows
    # mean 0.307; SE = max(|0.302 - 0.312| / 2, sqrt(0.307 * 0.693 / 2000)) = 0.0103; (0.307 - 0.1) / 0.0103 = 20
    assert "| positions | no positions | 7 | 30.2, 31.2 | 30.7 ± 1.0 | 20 |" in table
    lines = module.verdicts(run)
    assert len(lines) == 5
    assert lines[0].startswith("no positions vs Fourier, 2 cross-attends, shared: -40.0 points") and "clear" in lines[0]
    assert lines[3].startswith("4 cross-attends, shared vs Fourier, 2 cross-attends, shared: +0.2 points")
    assert "inconclusive" in lines[3]


@pytest.mark.needs_data("fashion-mnist")
def test_ablations_command_writes_table_runs_and_figure(tmp_path, monkeypatch):
    import json

    from perceiver_edu.__main__ import main
    from perceiver_edu.training import ablations as module

    monkeypatch.setitem(module.BUDGETS, "quick", TINY.scaled(steps=4))
    torch.set_num_threads(1)
    assert main(["ablations", "--budget", "quick", "--train-subset", "128", "--test-subset", "50", "--seeds", "3",
                 "--out", str(tmp_path / "abl"), "--no-progress"]) == 0
    runs = json.loads((tmp_path / "abl" / "results.json").read_text())
    assert runs["test_examples"] == 50 and runs["budget"]["steps"] == 4 and len(runs["runs"]) == 6
    assert {r["seed"] for r in runs["runs"]} == {3} and all(0 <= r["accuracy"] <= 1 for r in runs["runs"])
    table = (tmp_path / "abl" / "table.md").read_text()
    assert "| weight sharing | 4 cross-attends, not shared |" in table and table.count(" vs ") == 5
    assert (tmp_path / "abl" / "ablations.png").stat().st_size > 10_000

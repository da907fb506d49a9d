"""The chapter-7 baselines: shapes, clear errors, and what each assumes about pixel order."""
import pytest
import torch

from perceiver_edu.model.baselines import MLP, SmallCNN, count_parameters
from perceiver_edu.training.fit import evaluate_accuracy, fit
from perceiver_edu.inputs.permuted import permute_pixels, random_permutation


def test_shapes_and_parameter_counts():
    x = torch.rand(5, 1, 28, 28)
    cnn, mlp = SmallCNN(), MLP()
    assert cnn(x).shape == (5, 10) and mlp(x).shape == (5, 10)
    # conv 1->16: 1*16*9+16, BN 32; 16->32: 16*32*9+32, BN 64; 32->32: 32*32*9+32, BN 64; head 32*10+10
    assert count_parameters(cnn) == (144 + 16 + 32) + (4608 + 32 + 64) + (9216 + 32 + 64) + 330
    assert count_parameters(mlp) == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10
    assert SmallCNN(in_channels=3, num_classes=4, widths=(8,))(torch.rand(2, 3, 9, 7)).shape == (2, 4)


def test_count_parameters_counts_shared_tensors_once_and_can_skip_frozen_ones():
    mlp = MLP(in_features=4, num_classes=2, hidden=(3,))  # (4·3 + 3) + (3·2 + 2) = 23
    mlp.layers[0].weight.requires_grad_(False)  # 12 frozen
    assert count_parameters(mlp) == 11 and count_parameters(mlp, trainable_only=False) == 23
    layer = torch.nn.Linear(3, 3)
    assert count_parameters(torch.nn.Sequential(layer, layer)) == 12  # weight sharing: counted once


def test_mlp_is_blind_to_pixel_order_given_permuted_first_layer_weights():
    """A fixed permutation of the inputs is a relabelling of the MLP's first-layer weights."""
    torch.manual_seed(0)
    x, perm = torch.rand(4, 1, 28, 28), random_permutation(784, seed=3)
    mlp = MLP()
    permuted_mlp = MLP()
    permuted_mlp.load_state_dict(mlp.state_dict())
    with torch.no_grad():
        permuted_mlp.layers[0].weight.copy_(mlp.layers[0].weight[:, perm])
        assert torch.allclose(permuted_mlp(permute_pixels(x, perm)), mlp(x), atol=1e-5)


def test_cnn_sees_neighbourhoods_so_scrambling_changes_its_output():
    torch.manual_seed(0)
    cnn = SmallCNN().eval()
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        diff = (cnn(permute_pixels(x, random_permutation(784, 1))) - cnn(x)).abs().max()
    assert diff > 1e-3


def test_cnn_learns_a_local_pattern_that_permutation_hides():
    """Class 1 images hold a 3x3 bright square somewhere, class 0 the same 9 pixels scattered.
    The CNN tells them apart from the raw images; permuted, both look scattered."""
    g = torch.Generator().manual_seed(0)
    n, size = 256, 12
    images = torch.zeros(n, 1, size, size)
    labels = torch.arange(n) % 2
    for i in range(n):
        if labels[i]:
            r, c = torch.randint(0, size - 2, (2,), generator=g).tolist()
            images[i, 0, r:r + 3, c:c + 3] = 1
        else:
            images[i, 0].view(-1)[torch.randperm(size * size, generator=g)[:9]] = 1
    torch.manual_seed(0)
    cnn = SmallCNN(widths=(8, 8))
    fit(cnn, images[:192], labels[:192], epochs=6, batch_size=16, lr=1e-2, progress=False, device="cpu")
    assert evaluate_accuracy(cnn, images[192:], labels[192:]) > 0.9


@pytest.mark.parametrize("make, bad, match", [
    (lambda: SmallCNN(), torch.rand(2, 28, 28), r"\(B, 1, H, W\)"),
    (lambda: SmallCNN(), torch.rand(2, 3, 28, 28), r"\(B, 1, H, W\)"),
    (lambda: SmallCNN(), torch.rand(2, 1, 4, 4), "too small"),
    (lambda: MLP(), torch.rand(2, 1, 20, 20), "784 values"),
])
def test_bad_inputs_are_clear_errors(make, bad, match):
    with pytest.raises(ValueError, match=match):
        make()(bad)


def test_bad_sizes_are_clear_errors():
    with pytest.raises(ValueError, match="widths"):
        SmallCNN(widths=())
    with pytest.raises(ValueError, match="hidden"):
        MLP(hidden=(0,))

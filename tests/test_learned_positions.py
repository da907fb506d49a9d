"""LearnedPositions: a learned (M, P) table of positions, broadcast over the batch."""
import pytest
import torch

from perceiver_edu.model.position import LearnedPositions


def test_shape_and_broadcast_over_batch():
    torch.manual_seed(0)
    pos = LearnedPositions(12, 5)
    x = torch.randn(3, 12, 7)  # (B, M, C)
    out = pos(x)
    assert out.shape == (3, 12, 5)
    for b in range(3):  # the same table for every element of the batch
        torch.testing.assert_close(out[b], pos.positions)


def test_is_one_trainable_parameter_of_shape_m_by_p():
    pos = LearnedPositions(10, 4)
    params = list(pos.parameters())
    assert len(params) == 1 and params[0].shape == (10, 4) and params[0].requires_grad


def test_truncated_normal_init():
    torch.manual_seed(0)
    table = LearnedPositions(500, 64).positions.detach()
    assert table.abs().max() <= 0.04 + 1e-7  # cut at two standard deviations
    # a normal truncated at ±2σ has std 0.88σ
    assert 0.015 < table.std().item() < 0.02
    assert abs(table.mean().item()) < 1e-3


def test_gradient_reaches_every_used_position():
    pos = LearnedPositions(6, 3)
    pos(torch.zeros(2, 6, 1)).sum().backward()
    # each position is used once per batch element
    torch.testing.assert_close(pos.positions.grad, torch.full((6, 3), 2.0))


def test_wrong_number_of_elements_is_a_clear_error():
    pos = LearnedPositions(784, 8)
    with pytest.raises(ValueError, match="M=784.*M=1024"):
        pos(torch.zeros(2, 1024, 1))
    with pytest.raises(ValueError, match=r"\(B, M, \.\.\.\)"):
        pos(torch.zeros(784))


def test_bad_sizes():
    with pytest.raises(ValueError, match="num_positions"):
        LearnedPositions(0, 4)

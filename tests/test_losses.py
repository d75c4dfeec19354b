import pytest
import torch

from minima.losses import half_squared_error, label_threshold, mce, mse, squared_loss


def test_the_three_normalizations():
    outputs = torch.tensor([[0.5, -2.0, 1.0], [1.0, 1.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64)
    squares = torch.tensor([[0.25, 1.0, 4.0], [0.0, 4.0, 4.0]], dtype=torch.float64)
    assert torch.equal(mse(outputs, y), squares.mean(dim=1))  # Soudry: (1/N) Σ
    assert torch.equal(half_squared_error(outputs, y), squares.sum(dim=1) / 2)  # Kawaguchi, Du: ½ Σ
    assert torch.equal(squared_loss(outputs, torch.stack([y, y])), mse(outputs, y))  # per-member targets
    with pytest.raises(ValueError, match="normalization"):
        squared_loss(outputs, y, "sum")


def test_vector_outputs_sum_over_outputs():
    outputs = torch.arange(12, dtype=torch.float64).reshape(2, 2, 3)  # (R, d_out, N)
    y = torch.zeros(2, 3, dtype=torch.float64)
    assert mse(outputs, y).tolist() == pytest.approx([float((outputs[r] ** 2).sum()) / 3 for r in range(2)])
    assert half_squared_error(outputs, y).tolist() == pytest.approx([float((outputs[r] ** 2).sum()) / 2 for r in range(2)])
    with pytest.raises(ValueError, match="scalar outputs"):
        mce(outputs, y)


def test_label_thresholds():
    assert label_threshold(torch.tensor([-1.0, 1.0, 1.0])) == 0.0
    assert label_threshold(torch.tensor([0.0, 1.0])) == 0.5
    assert label_threshold(torch.tensor([1.0, 1.0])) == 0.0
    assert label_threshold(torch.tensor([0.0, 0.0])) == 0.5
    assert label_threshold(torch.arange(3.0), strict=False) is None
    with pytest.raises(ValueError, match="label values"):
        label_threshold(torch.arange(3.0))
    with pytest.raises(ValueError, match="outputs"):
        mse([1.0, 2.0], torch.zeros(2))

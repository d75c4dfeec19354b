"""The idea figures: each draws what the library computes, and rejects bad input with a ValueError."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import minima  # noqa: E402
from minima import pictures  # noqa: E402
from minima.ntk import unit_movement  # noqa: E402


@pytest.fixture
def ax():
    figure, axis = plt.subplots()
    yield axis
    plt.close(figure)


def test_weight_plane_finds_each_units_sector(ax):
    X = np.array([[1.0, 0.0], [0.0, 1.0]])  # lines along the axes: four quadrant sectors
    sectors = pictures.draw_weight_plane(ax, X, np.array([[1.0, 0.5], [-1.0, -0.5]]))
    assert len(set(sectors.tolist())) == 2  # opposite quadrants, different sectors
    starts, lengths, signs = minima.volume.circle_arcs(X)
    for k, w in zip(sectors, [[1.0, 0.5], [-1.0, -0.5]]):
        assert (signs[k] == np.sign(np.array(w) @ X)).all()
    with pytest.raises(ValueError, match="X"):
        pictures.draw_weight_plane(ax, np.ones((3, 4)))
    with pytest.raises(ValueError, match="radius"):
        pictures.draw_weight_plane(ax, X, radius=0.0)


def test_least_squares_reports_the_angle_between_error_and_rows():
    figure = plt.figure()
    ax3d = figure.add_subplot(projection="3d")
    rows = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert pictures.draw_least_squares(ax3d, rows, [1.0, 2.0, 3.0], [1.0, 2.0, 0.0]) < 1e-15
    assert pictures.draw_least_squares(ax3d, rows, [1.0, 2.0, 3.0], [0.0, 2.0, 0.0]) > 0.3
    with pytest.raises(ValueError, match="y and y_hat"):
        pictures.draw_least_squares(ax3d, rows, [1.0, 2.0], [1.0, 2.0])
    plt.close(figure)


def test_argument_needs_triples(ax):
    pictures.draw_argument(ax, [("a", "Lemma 1", ""), ("b", "Lemma 2", "value")])
    with pytest.raises(ValueError, match="steps"):
        pictures.draw_argument(ax, [("a", "Lemma 1")])


def test_deep_linear_section_is_the_product_loss():
    t = np.linspace(-1.0, 1.5, 11)
    assert np.allclose(pictures.deep_linear_section(t, t), 0.5 * (t * t - 1) ** 2)
    assert np.allclose(pictures.deep_linear_section(t, 2.0, t), 0.5 * (2 * t * t - 1) ** 2)


def test_landscape_classifies_both_origins():
    figure, axes = plt.subplots(1, 2)
    verdicts = pictures.draw_deep_linear_landscape(axes)
    assert verdicts["depth 2"].verdict == "saddle with a negative direction"
    assert verdicts["depth 3"].smallest_eigenvalue == verdicts["depth 3"].largest_eigenvalue == 0
    plt.close(figure)


def test_gram_matrices_must_be_square_and_match(ax):
    with pytest.raises(ValueError, match="square"):
        pictures.draw_gram_matrices([ax], [np.ones((2, 3))], ["x"])
    with pytest.raises(ValueError, match="same length"):
        pictures.draw_gram_matrices([ax], [np.eye(2), np.eye(2)], ["x"])


def test_unit_movement_flips_only_past_the_margin():
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(5, 30, generator=generator, dtype=torch.float64)
    X = X / X.norm(dim=0)
    W0 = torch.randn(200, 5, generator=generator, dtype=torch.float64)
    W = W0 + 0.2 * torch.randn(200, 5, generator=generator, dtype=torch.float64)
    moved = unit_movement(W0, W, X)
    assert moved["flipped"].any() and (~moved["flipped"]).any()
    assert (moved["movement"][moved["flipped"]] >= moved["margin"][moved["flipped"]]).all()
    assert torch.allclose(moved["movement"], (W - W0).norm(dim=1))
    assert not unit_movement(W0, W0, X)["flipped"].any()
    with pytest.raises(ValueError, match="W0 and W"):
        unit_movement(W0, W[:, :4], X)


def test_unit_movement_picture_returns_the_arrays(ax):
    X = torch.eye(3, dtype=torch.float64)
    W0 = torch.tensor([[1.0, 2.0, 3.0], [0.01, 1.0, 1.0]], dtype=torch.float64)
    W = W0 + torch.tensor([[0.0, 0.0, 0.0], [-0.1, 0.0, 0.0]], dtype=torch.float64)
    moved = pictures.draw_unit_movement(ax, W0, W, X)
    assert moved["flipped"].tolist() == [False, True]

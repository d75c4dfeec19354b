import pytest
import torch
from hypothesis import given, settings, strategies as st

import minima
from minima import LeakyReLUNet, mce, mse, sweep_widths, train


def test_mse_and_mce_formulas():
    outputs = torch.tensor([[0.5, -2.0, 1.0], [1.0, 1.0, 1.0]])
    y = torch.tensor([1.0, -1.0, -1.0])
    assert mse(outputs, y).tolist() == pytest.approx([(0.25 + 1 + 4) / 3, (0 + 4 + 4) / 3])
    assert mce(outputs, y).tolist() == pytest.approx([1 / 3, 2 / 3])
    y01 = torch.tensor([1.0, 0.0, 0.0])
    assert mce(outputs, y01).tolist() == pytest.approx([2 / 3, 2 / 3])  # threshold 1/2; 0.5 counts as 0


@given(R=st.integers(2, 4), optimizer=st.sampled_from(["adam", "gd"]), batch=st.sampled_from([None, 7]),
       seed=st.integers(0, 100))
@settings(max_examples=8, deadline=None)
def test_ensemble_equals_independent_single_runs(R, optimizer, batch, seed):
    X, y = minima.data.gaussian_binary(4, 20, seed=seed)
    ensemble = LeakyReLUNet((4, 6), 0.1, ensemble=R, seed=seed, dtype=torch.float64)
    singles = [ensemble.member(r) for r in range(R)]
    options = dict(epochs=15, lr=0.05, optimizer=optimizer, batch_size=batch, stop_at_zero=False, seed=seed)
    history = train(ensemble, X, y, **options)
    for r, single in enumerate(singles):
        single_history = train(single, X, y, **options)
        for w_ens, w_single in zip(ensemble.weights, single.weights):
            assert torch.allclose(w_ens[r], w_single[0], atol=1e-10)
        assert torch.allclose(history.loss[:, r], single_history.loss[:, 0], atol=1e-10)


def test_same_seed_same_numbers():
    X, y = minima.data.gaussian_binary(5, 30, seed=1)
    results = []
    for _ in range(2):
        net = LeakyReLUNet((5, 8), ensemble=3, seed=2)
        results.append(train(net, X, y, epochs=30, batch_size=10, seed=4).loss)
    assert torch.equal(results[0], results[1])


def test_wide_network_reaches_zero_error_and_stops():
    X, y = minima.data.gaussian_binary(8, 40, seed=0)
    net = LeakyReLUNet((8, 40), ensemble=4, seed=0)
    history = train(net, X, y, epochs=3000, lr=0.02)
    assert (history.final_mce == 0).all()
    assert (history.epochs_to_zero >= 0).all()
    assert history.epochs_run == int(history.epochs_to_zero.max()) + 1 < 3000
    # each member froze at the epoch its own MCE reached zero
    assert torch.allclose(history.final_loss, history.loss[history.epochs_to_zero, torch.arange(4)])


def test_narrow_network_cannot_fit_random_labels():
    X, y = minima.data.gaussian_binary(4, 200, seed=0)
    net = LeakyReLUNet((4, 2), ensemble=2, seed=0)
    history = train(net, X, y, epochs=300, lr=0.02)
    assert (history.final_mce > 0.1).all()
    assert history.epochs_run == 300


def test_learning_rate_decay_schedule():
    X, y = minima.data.gaussian_binary(3, 10, seed=0)
    history = train(LeakyReLUNet((3, 2), seed=0), X, y, epochs=6, lr=1.0, decay_after=3, decay=0.5,
                    stop_at_zero=False)
    assert history.learning_rates == [1.0, 1.0, 1.0, 1.0, 0.5, 0.25]


def test_train_rejects_bad_input():
    X, y = minima.data.gaussian_binary(3, 10, seed=0)
    net = LeakyReLUNet((3, 2), seed=0)
    with pytest.raises(ValueError, match="y must have shape"):
        train(net, X, y[:5])
    with pytest.raises(ValueError, match="optimizer"):
        train(net, X, y, optimizer="sgd")
    with pytest.raises(ValueError, match="lr"):
        train(net, X, y, lr=0)
    with pytest.raises(ValueError, match="epochs"):
        train(net, X, y, epochs=0)
    with pytest.raises(ValueError, match="net"):
        train("net", X, y)
    with pytest.raises(ValueError, match="label values"):
        mce(torch.zeros(1, 10), torch.arange(10.0))


def test_regression_targets_train_without_mce():
    X, _ = minima.data.gaussian_binary(3, 10, seed=0)
    history = train(LeakyReLUNet((3, 4), seed=0), X, torch.linspace(-1, 1, 10), epochs=20, lr=0.01)
    assert history.epochs_run == 20 and torch.isnan(history.final_mce).all()
    assert history.loss[-1, 0] < history.loss[0, 0]


def test_sweep_widths_shapes_and_ratios():
    X, y = minima.data.gaussian_binary(4, 20, seed=0)
    sweep = sweep_widths(X, y, [1, 5], repetitions=2, epochs=5)
    assert sweep.final_mce.shape == (2, 2)
    assert sweep.parameter_ratio.tolist() == pytest.approx([5 / 20, 25 / 20])
    deep = sweep_widths(X, y, [3], repetitions=1, depth=3, epochs=2)
    assert deep.parameter_ratio.tolist() == pytest.approx([(12 + 9 + 3) / 20])
    with pytest.raises(ValueError, match="hidden_widths"):
        sweep_widths(X, y, [], repetitions=1)


def test_train_layers_freezes_the_others_and_tracks_preactivations():
    X, y = minima.data.gaussian_binary(4, 30, seed=0)
    net = LeakyReLUNet((4, 5, 6), 0.1, ensemble=2, seed=0)
    first = net.weights[0].detach().clone()
    history = train(net, X, y, epochs=20, train_layers=[1, 2], track_min_preactivation=True, stop_at_zero=False)
    assert torch.equal(net.weights[0].detach(), first)
    assert history.min_preactivation.shape == (20, 2) and (history.min_preactivation > 0).all()
    with pytest.raises(ValueError, match="train_layers"):
        train(net, X, y, train_layers=[3])


def test_slope_noise_shapes_and_sweep_keeps_networks():
    X, y = minima.data.gaussian_binary(4, 20, seed=0)
    net = LeakyReLUNet((4, 3, 5), ensemble=2, seed=0)
    noise = minima.slope_noise(net, 20, 0.3, seed=1)
    assert [tuple(e.shape) for e in noise] == [(2, 3, 20), (2, 5, 20)]
    assert torch.equal(noise[0], minima.slope_noise(net, 20, 0.3, seed=1)[0])
    sweep = sweep_widths(X, y, [2, 3], repetitions=2, epochs=3, noise_std=0.2, keep_networks=True)
    assert len(sweep.networks) == 2 and sweep.noise[0][0].shape == (2, 2, 20)


def test_settle_in_region_reaches_the_exact_regional_minimum():
    from minima.construction import planted_local_minimum
    from minima.derivatives import stationarity

    X, _ = minima.data.gaussian_binary(5, 40, seed=2)
    planted = planted_local_minimum(X, 3, 0.1, seed=0)
    shifted = LeakyReLUNet.from_weights([planted.W * (1 + 1e-4), planted.z], 0.1)  # same region, off the minimum
    assert stationarity(shifted, X, planted.y) > 1e-6
    result = minima.settle_in_region(shifted, X, planted.y)
    assert result.converged and result.rounds == 1
    assert stationarity(shifted, X, planted.y) < 1e-12
    assert float(mse(shifted(X).detach(), planted.y)[0]) == pytest.approx(float(planted.error.pow(2).mean()), rel=1e-10)
    with pytest.raises(ValueError, match="one hidden layer"):
        minima.settle_in_region(LeakyReLUNet((5, 2, 2), seed=0), X, planted.y)

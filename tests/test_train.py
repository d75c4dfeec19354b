import pytest
import torch
from hypothesis import given, settings, strategies as st

import minima
from minima import LeakyReLUNet, MinAbsPreactivation, mce, mse, sweep_widths, train
from minima.regions import planted_local_minimum, solve_in_region, stationarity


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


def test_records_come_in_blocks_and_the_stop_is_exact():
    """The records reach the host once per block of epochs; a stop inside a block cuts the history
    at the epoch where the last member froze, and a callback is called only for epochs kept."""
    from minima.train import _RECORD_BLOCK

    X, y = minima.data.gaussian_binary(8, 40, seed=0)
    for callbacks in ([], [MinAbsPreactivation(X)]):
        net = LeakyReLUNet((8, 40), ensemble=4, seed=0)
        history = train(net, X, y, epochs=3000, lr=0.02, callbacks=callbacks)
        last = int(history.epochs_to_zero.max())
        assert history.epochs_run == last + 1 and len(history.learning_rates) == last + 1
        assert last + 1 != _RECORD_BLOCK and (last + 1) % _RECORD_BLOCK != 0  # stopped mid-block
        assert (history.mce[last] == 0).all() and (history.mce[last - 1] > 0).any()
        if callbacks:
            assert callbacks[0].values.shape == (last + 1, 4)


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
        train(net, X, y, optimizer="rmsprop")
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
    tracker = MinAbsPreactivation(X)
    train(net, X, y, epochs=20, train_layers=[1, 2], callbacks=[tracker], stop_at_zero=False)
    assert torch.equal(net.weights[0].detach(), first)
    assert tracker.values.shape == (20, 2) and (tracker.values > 0).all()
    assert torch.equal(tracker.values[-1], net.min_abs_preactivation(X))  # recorded after the last step
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


def test_solve_in_region_reaches_the_exact_regional_minimum():
    X, _ = minima.data.gaussian_binary(5, 40, seed=2)
    planted = planted_local_minimum(X, 3, 0.1, seed=0)
    shifted = LeakyReLUNet.from_weights([planted.W * (1 + 1e-4), planted.z], 0.1)  # same region, off the minimum
    assert stationarity(shifted, X, planted.y) > 1e-6
    result = solve_in_region(shifted, X, planted.y)
    assert result.converged and result.rounds == 1
    assert stationarity(shifted, X, planted.y) < 1e-12
    assert float(mse(shifted(X).detach(), planted.y)[0]) == pytest.approx(float(planted.error.pow(2).mean()), rel=1e-10)
    with pytest.raises(ValueError, match="one hidden layer"):
        solve_in_region(LeakyReLUNet((5, 2, 2), seed=0), X, planted.y)


@pytest.mark.parametrize("lr", [1e-3, 5e-2])
def test_adam_step_equals_torch_optim_adam(lr):
    """The ensemble engine's Adam step is torch.optim.Adam(fused=True)'s, member by member."""
    X, y = minima.data.gaussian_binary(4, 25, seed=3)
    net = LeakyReLUNet((4, 6, 3), 0.1, seed=7, dtype=torch.float64)
    reference = [w.detach().clone().requires_grad_(True) for w in net.weights]
    history = train(net, X, y, epochs=40, lr=lr, stop_at_zero=False)
    optimizer = torch.optim.Adam(reference, lr=lr, betas=(0.9, 0.99), eps=1e-8, fused=True)
    losses = []
    for _ in range(40):
        optimizer.zero_grad()
        loss = mse(minima.forward(reference, X, 0.1), y)[0]
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    for ours, theirs in zip(net.weights, reference):  # forward passes batched otherwise: round-off apart
        assert torch.allclose(ours.detach(), theirs.detach(), rtol=0, atol=1e-12)
    assert history.loss[:, 0].tolist() == pytest.approx(losses, rel=1e-12)


def test_half_sum_normalization_is_n_over_two_times_the_mse():
    X, y = minima.data.gaussian_binary(3, 10, seed=0)
    mean_net = LeakyReLUNet((3, 4), seed=0, dtype=torch.float64)
    half_net = LeakyReLUNet((3, 4), seed=0, dtype=torch.float64)
    # plain GD on ½Σ with rate lr·2/N takes exactly the steps of GD on the MSE with rate lr
    mean_history = train(mean_net, X, y, epochs=5, lr=0.1, optimizer="gd", stop_at_zero=False)
    half_history = train(half_net, X, y, epochs=5, lr=0.1 * 2 / 10, optimizer="gd", stop_at_zero=False,
                         normalization="half_sum")
    assert torch.allclose(half_history.loss, mean_history.loss * 10 / 2)
    assert torch.allclose(mean_net.weights[0], half_net.weights[0], atol=1e-14)
    with pytest.raises(ValueError, match="normalization"):
        train(mean_net, X, y, normalization="sum")


def test_vector_outputs_and_linear_networks_train():
    X, _ = minima.data.gaussian_binary(4, 30, seed=0)
    targets = torch.randn(2, 4, dtype=torch.float64) @ X  # a linear map: a deep linear net can fit it
    net = LeakyReLUNet((4, 5, 5), 1.0, outputs=2, ensemble=3, seed=0, dtype=torch.float64)
    history = train(net, X, targets, epochs=400, lr=1e-2, normalization="half_sum")
    assert history.loss.shape == (400, 3) and torch.isnan(history.final_mce).all()
    assert (history.final_loss < 1e-3 * history.loss[0]).all()
    with pytest.raises(ValueError, match="y must have shape"):
        train(net, X, targets[0])


def test_callbacks_are_called_after_every_epoch_with_the_network():
    X, y = minima.data.gaussian_binary(3, 10, seed=0)
    seen = []

    class Recorder:
        def start(self, net):
            seen.append(("start", net.weights[0].detach().clone()))

        def __call__(self, epoch, net):
            seen.append((epoch, net.weights[0].detach().clone()))

    net = LeakyReLUNet((3, 4), seed=0)
    train(net, X, y, epochs=3, stop_at_zero=False, callbacks=[Recorder()])
    assert [entry[0] for entry in seen] == ["start", 0, 1, 2]
    assert torch.equal(seen[-1][1], net.weights[0].detach())
    with pytest.raises(ValueError, match="callbacks"):
        train(net, X, y, callbacks=[1])


def test_finiteness_is_checked_even_where_the_sum_overflows():
    """A finite sum proves every entry finite; a sum that overflows is checked entry by entry."""
    from minima._checks import all_finite, check_finite_tensor

    huge = torch.full((4, 10), 3e38, dtype=torch.float32)  # finite entries, an infinite sum
    assert not torch.isfinite(huge.sum()) and all_finite(huge)
    assert check_finite_tensor("X", huge, 2) is huge
    for bad in (float("nan"), float("inf"), -float("inf")):
        broken = huge.clone()
        broken[2, 3] = bad
        assert not all_finite(broken) and not all_finite(broken / 1e30)
        with pytest.raises(ValueError, match="X contains NaN or inf"):
            check_finite_tensor("X", broken, 2)

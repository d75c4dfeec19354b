"""minima.guarantees: each result's width from its own formula, on the axis #parameters / N."""
from __future__ import annotations

import math

import pytest

from minima import construction, guarantees, ntk


def test_each_threshold_is_its_formula():
    n, d0, lambda0 = 512, 32, 0.2
    found = {t.key: t for t in guarantees.thresholds(n, d0, lambda0=lambda0, delta=0.1)}
    assert list(found) == ["khk", "soudry-carmon", "theorem-8", "theorem-8-honest", "nguyen-hein",
                           "assumption-4", "step-5", "du"]
    assert found["nguyen-hein"].hidden_units == n and found["nguyen-hein"].ratio == pytest.approx(33)
    assert found["khk"].ratio == pytest.approx(1.0)
    assert found["soudry-carmon"].hidden_units == 16 and found["soudry-carmon"].ratio == pytest.approx(33 * 16 / 512)
    assert found["theorem-8"].hidden_units == construction.paper_neuron_count(n, d0) == 4 * math.ceil(512 / 62)
    assert found["theorem-8-honest"].hidden_units == 4 * math.ceil(512 / 31)
    assert found["assumption-4"].hidden_units == pytest.approx(512 * math.log(512) ** 4 / 32)
    assert found["step-5"].hidden_units == pytest.approx((2 / 0.23) ** 4 * found["assumption-4"].hidden_units)
    assert found["du"].hidden_units == pytest.approx(ntk.theory_width(n, lambda0, 0.1))
    assert {k: t.chapter for k, t in found.items()} == {
        "khk": 5, "soudry-carmon": 2, "theorem-8": 3, "theorem-8-honest": 3, "nguyen-hein": 6,
        "assumption-4": 4, "step-5": 4, "du": 7}
    ordered = [t.ratio for t in found.values()]
    assert ordered == sorted(ordered)  # at these sizes each asks for more than the one before


@pytest.mark.parametrize("call, match", [
    (lambda: guarantees.thresholds(0, 3, lambda0=0.1), "n"),
    (lambda: guarantees.thresholds(10, 1, lambda0=0.1), "d0"),
    (lambda: guarantees.thresholds(10, 3, lambda0=0.0), "lambda0"),
    (lambda: guarantees.thresholds(10, 3, lambda0=0.1, delta=1.0), "delta"),
    (lambda: guarantees.parameter_ratio(-1, 10, 3), "d1"),
])
def test_bad_input_is_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()

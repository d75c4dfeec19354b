"""minima.claims: a claim is recorded, written beside the run's notebooks, and asserted."""
from __future__ import annotations

import json

import numpy as np
import pytest

from minima import claims


@pytest.fixture
def ledger_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(claims.CLAIMS_DIR, str(tmp_path))
    claims.page("04_angular_volume/3_exponential_rarity")
    return tmp_path


def test_a_claim_is_recorded_and_written(ledger_dir):
    assert claims.claim("sh.theorem-6", "bad regions are rare", "Soudry & Hoffer, Theorem 6",
                        "exp(-γ N^¾ (d0 d1)^¼)", np.float64(0.24712), np.bool_(True), note="N ≤ 60") is None
    recorded = claims.recorded()[-1]
    assert recorded.status == "reproduced" and recorded.book_value == "0.2471"
    path = claims.ledger_file("04_angular_volume/3_exponential_rarity")
    assert path == ledger_dir / "chapters" / "04_angular_volume" / "3_exponential_rarity.claims.json"
    data = json.loads(path.read_text())
    assert data["page"] == "04_angular_volume/3_exponential_rarity"
    assert data["claims"][0]["status"] == "reproduced" and data["claims"][0]["note"] == "N ≤ 60"
    assert claims.read_ledgers(ledger_dir)["04_angular_volume/3_exponential_rarity"][0]["id"] == "sh.theorem-6"


def test_a_false_claim_is_recorded_then_raises(ledger_dir):
    with pytest.raises(AssertionError, match=r"two is three.*paper: 3.*book: 2.*on purpose"):
        claims.claim("probe", "two is three", "nowhere", 3, 2, False, note="on purpose")
    [row] = claims.read_ledgers(ledger_dir)["04_angular_volume/3_exponential_rarity"]
    assert row["status"] == "differs" and row["holds"] is False


def test_a_claim_not_checked_needs_its_reason(ledger_dir):
    with pytest.raises(ValueError, match="note"):
        claims.claim("probe", "large N", "paper", "x", "y", None)
    claims.claim("probe", "large N", "paper", "x", "y", None, note="N too small")
    assert claims.recorded()[-1].status == "not checked at this size"


def test_rerunning_a_cell_replaces_its_claim_and_a_new_page_starts_empty(ledger_dir):
    claims.claim("probe", "s", "p", 1, 1, True)
    claims.claim("probe", "s", "p", 1, 2, True)
    assert [c.book_value for c in claims.recorded()] == ["2"]
    with pytest.raises(ValueError, match="already"):  # one id, two different claims
        claims.claim("probe", "another statement", "p", 1, 1, True)
    claims.page("05_deep_linear_depth_width")
    assert claims.recorded() == []


def test_without_the_folder_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.delenv(claims.CLAIMS_DIR, raising=False)
    monkeypatch.chdir(tmp_path)
    claims.page("01_optimization_mystery")
    claims.claim("probe", "s", "p", 1, 1, True)
    assert claims.ledger_file("01_optimization_mystery") is None and not list(tmp_path.rglob("*.json"))


@pytest.mark.parametrize("call, match", [
    (lambda: claims.page("chapters/04_x"), "name"),
    (lambda: claims.claim("Bad Id", "s", "p", 1, 1, True), "id"),
    (lambda: claims.claim("ok", "", "p", 1, 1, True), "statement"),
    (lambda: claims.claim("ok", "s", "p", [1], 1, True), "paper_value"),
    (lambda: claims.claim("ok", "s", "p", 1, 1, 1), "holds"),
])
def test_bad_input_is_refused_with_the_argument_named(call, match, ledger_dir):
    with pytest.raises(ValueError, match=match):
        call()

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


def test_a_claims_standing_is_its_status_when_it_holds_and_needs_a_note(ledger_dir, capsys):
    claims.claim("probe.corrected", "the valid factor is half", "Soudry & Hoffer, Lemma 21", "1 per unit",
                 "1/2 per unit", True, stands="paper corrected", note="eq. 13.6 uses the two-sided cap")
    assert claims.recorded()[-1].status == "paper corrected"
    printed = capsys.readouterr().out
    assert printed.startswith("✓ the valid factor is half [paper corrected]")
    assert "paper: 1 per unit | book: 1/2 per unit" in printed
    assert all(len(line) <= 88 for line in printed.splitlines())
    row = claims.read_ledgers(ledger_dir)["04_angular_volume/3_exponential_rarity"][-1]
    assert row["status"] == row["stands"] == "paper corrected"
    with pytest.raises(ValueError, match="note"):  # a standing other than reproduced says how
        claims.claim("probe.finding", "s", "p", 1, 1, True, stands="book finding")
    with pytest.raises(ValueError, match="stands must be one of"):
        claims.claim("probe.other", "s", "p", 1, 1, True, stands="agrees", note="n")
    # not checked and differs override the standing
    claims.claim("probe.later", "s2", "p", 1, 1, None, stands="book finding", note="too small")
    assert claims.recorded()[-1].status == "not checked at this size"
    with pytest.raises(AssertionError):
        claims.claim("probe.fails", "s3", "p", 1, 2, False, stands="paper corrected", note="n")
    assert claims.recorded()[-1].status == "differs"


def test_a_long_claim_prints_within_the_page_and_quiet_prints_nothing(ledger_dir, capsys):
    claims.claim("probe.long", "word " * 40, "p", "x" * 120, "y" * 30, True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 3 and all(len(line) <= 88 for line in lines)
    claims.claim("probe.quiet", "s", "p", 1, 1, True, quiet=True)
    assert capsys.readouterr().out == ""
    claims.passed("the sweep spans 1/4 to 4")
    assert capsys.readouterr().out == "✓ the sweep spans 1/4 to 4\n"
    with pytest.raises(ValueError, match="what"):
        claims.passed("  ")


def test_the_count_line_names_every_status():
    rows = [{"page": "a", "status": "reproduced"}, {"page": "b", "status": "book finding"}]
    line = claims.summary_lines(rows)
    assert line.startswith("2 claims on 2 pages: 1 reproduced, 0 reproduced in another setting")
    assert all(status in line for status in claims.STATUSES)

"""The Token Price Index (paper eqs 4-6): the 30% cap with pro-rata redistribution, the
capability adjustment, the CSV format and `sitcli sit index` through the entry point."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_one_line_error
from hypothesis import given, settings
from hypothesis import strategies as st

from sitcli.errors import BadInput
from sitcli.sit.index import (
    DEFAULT_REFERENCE_SCORE,
    adjusted_prices,
    capped_weights,
    compute_index,
    load_prices,
    min_providers,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "tpi-prices.csv"
HEADER = "time,provider,price,volume,score\n"


def write(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "prices.csv"
    path.write_text(header + body, encoding="utf-8")
    return path


# --- the cap, worked by hand -------------------------------------------------------------------

def test_cap_needs_two_rounds_worked_by_hand():
    # volumes 40,30,15,10,5 (total 100): shares .40 .30 .15 .10 .05
    # round 1: A (.40) is over 30% -> A = .30; the other .70 goes to B..E pro rata to volume
    #   (60 of it): B = .70*30/60 = .35 -> now over the cap too (C .175, D .1167, E .0583)
    # round 2: A = B = .30; the other .40 goes to C,D,E pro rata (30): C = .40*15/30 = .20,
    #   D = .40*10/30 = .1333, E = .40*5/30 = .0667
    weights, capped = capped_weights(np.array([40.0, 30.0, 15.0, 10.0, 5.0]), 0.30)
    assert weights == pytest.approx([0.30, 0.30, 0.20, 0.4 / 3, 0.2 / 3])
    assert capped.tolist() == [True, True, False, False, False]


def test_one_capped_provider_worked_by_hand():
    # shares .50 .20 .15 .10 .05: A -> .30; .70 over B..E (50): B = .28, C = .21, D = .14, E = .07
    weights, capped = capped_weights(np.array([50.0, 20.0, 15.0, 10.0, 5.0]), 0.30)
    assert weights == pytest.approx([0.30, 0.28, 0.21, 0.14, 0.07])
    assert capped.tolist() == [True, False, False, False, False]


def test_no_provider_over_the_cap_keeps_plain_volume_weights():
    weights, capped = capped_weights(np.array([30.0, 25.0, 25.0, 20.0]), 0.30)
    assert weights == pytest.approx([0.30, 0.25, 0.25, 0.20])   # exactly at the cap is allowed
    assert not capped.any()


def test_four_is_the_fewest_providers_for_a_30pct_cap():
    assert min_providers(0.30) == 4 and min_providers(0.25) == 4 and min_providers(0.5) == 2
    # 4 providers, one dominant: .30 each for the three capped ones leaves .10 for the smallest
    weights, capped = capped_weights(np.array([97.0, 1.0, 1.0, 1.0]), 0.30)
    assert weights.sum() == pytest.approx(1.0) and weights.max() <= 0.30 + 1e-12
    with pytest.raises(ValueError, match="need 4"):
        capped_weights(np.array([50.0, 30.0, 20.0]), 0.30)


def test_capability_adjustment_is_eq_6():
    # a model scoring 90 against a reference of 81 delivers 90/81 SIT per token: $10 -> $9 per SIT
    assert adjusted_prices(np.array([10.0, 2.0]), np.array([90.0, 54.0]), 81.0) == pytest.approx([9.0, 3.0])
    assert DEFAULT_REFERENCE_SCORE == pytest.approx((86 + 67 + 92) / 3)


# --- properties ----------------------------------------------------------------------------------

volumes_st = st.lists(st.floats(min_value=1e-3, max_value=1e6), min_size=4, max_size=30)


@settings(max_examples=200, deadline=None)
@given(volumes=volumes_st, cap=st.sampled_from([0.25, 0.30, 0.35, 0.5, 1.0]))
def test_capped_weights_properties(volumes, cap):
    v = np.array(volumes)
    weights, capped = capped_weights(v, cap)
    assert weights.sum() == pytest.approx(1.0, abs=1e-9)
    assert np.all(weights <= cap * (1 + 1e-9))
    assert np.all(weights > 0)
    assert np.all(weights[capped] == cap)
    # order-preserving: more volume never gets less weight
    order = np.argsort(v, kind="stable")
    assert np.all(np.diff(weights[order]) >= -1e-12)
    # uncapped providers keep their volume ratios
    free = ~capped
    if free.sum() >= 2:
        ratio = weights[free] / v[free]
        assert ratio == pytest.approx(np.full(free.sum(), ratio[0]), rel=1e-9)
    # nothing capped that did not need it: with no cap binding, weights are the volume shares
    if not capped.any():
        assert weights == pytest.approx(v / v.sum(), rel=1e-9)


# --- the file and the index --------------------------------------------------------------------

def test_index_worked_by_hand(tmp_path):
    # one timestamp, reference score 80. Adjusted prices: a 10*80/100 = 8, b 4*80/80 = 4,
    # c 3*80/60 = 4, d 1*80/80 = 1. Volumes 60,20,10,10: a capped at .30, the other .70 goes
    # to b,c,d (40) pro rata: b .35 -> over, capped; .40 to c,d: .20 each.
    # TPI = .3*8 + .3*4 + .2*4 + .2*1 = 2.4 + 1.2 + 0.8 + 0.2 = 4.6
    path = write(tmp_path, "2025-01-31,a,10,60,100\n2025-01-31,b,4,20,80\n"
                           "2025-01-31,c,3,10,60\n2025-01-31,d,1,10,80\n")
    [row] = compute_index(load_prices(path), reference_score=80.0)
    assert row["time"] == "2025-01-31" and row["providers"] == 4
    assert row["tpi"] == pytest.approx(4.6)
    assert row["capped"] == ["a", "b"]
    assert row["weights"] == pytest.approx({"a": 0.3, "b": 0.3, "c": 0.2, "d": 0.2})


def test_example_file_loads_and_every_timestamp_is_capped_correctly():
    rows = compute_index(load_prices(EXAMPLE))
    assert [r["time"] for r in rows] == ["2025-01-31", "2025-02-28", "2025-03-31"]
    for r in rows:
        assert sum(r["weights"].values()) == pytest.approx(1.0)
        assert max(r["weights"].values()) <= 0.30 + 1e-12
        assert r["tpi"] == pytest.approx(sum(d["weight"] * d["adjusted_price"] for d in r["detail"]))


@pytest.mark.parametrize("body, header, fragment", [
    ("2025-01-31,a,1,1\n", "time,provider,price,volume\n", "missing column(s) score"),
    ("2025-01-31,a,0,1,80\n2025-01-31,b,1,1,80\n", HEADER, "price"),
    ("2025-01-31,a,1,-5,80\n", HEADER, "volume"),
    ("2025-01-31,a,1,5,abc\n", HEADER, "score"),
    ("yesterday,a,1,5,80\n", HEADER, "ISO date"),
    ("2025-01-31,a,1,5,80\n2025-01-31,a,2,5,80\n", HEADER, "appears twice"),
])
def test_bad_files_are_refused(tmp_path, body, header, fragment):
    with pytest.raises(BadInput, match=None) as info:
        load_prices(write(tmp_path, body, header))
    assert fragment in str(info.value)


def test_too_few_providers_for_the_cap(tmp_path):
    path = write(tmp_path, "2025-01-31,a,1,5,80\n2025-01-31,b,1,5,80\n2025-01-31,c,1,5,80\n")
    with pytest.raises(BadInput, match="at least 4 providers"):
        compute_index(load_prices(path))
    [row] = compute_index(load_prices(path), cap=0.5)   # a looser cap is feasible with 3
    assert row["weights"] == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})


# --- the command ---------------------------------------------------------------------------------

def test_cli_table_json_csv(cli):
    out = cli("sit", "index", EXAMPLE, check_code=0)
    assert "Token Price Index" in out.stdout and "provider-a" in out.stdout
    assert "2025-01-31" in out.stdout and "provider-a, provider-b" in out.stdout
    payload = json.loads(cli("sit", "index", EXAMPLE, "--format", "json", check_code=0).stdout)
    assert payload["cap"] == 0.3 and payload["reference_score"] == pytest.approx(245 / 3)
    expected = compute_index(load_prices(EXAMPLE))
    assert [r["tpi"] for r in payload["index"]] == pytest.approx([r["tpi"] for r in expected])
    assert payload["index"][0]["capped"] == ["provider-a", "provider-b"]
    rows = list(csv.DictReader(io.StringIO(cli("sit", "index", EXAMPLE, "--format", "csv",
                                               check_code=0).stdout)))
    assert len(rows) == 14 and {"time", "provider", "weight", "capped", "tpi"} <= rows[0].keys()
    jan = [r for r in rows if r["time"] == "2025-01-31"]
    assert sum(float(r["weight"]) for r in jan) == pytest.approx(1.0)


def test_cli_reference_score_scales_the_index(cli):
    base = json.loads(cli("sit", "index", EXAMPLE, "-f", "json", check_code=0).stdout)
    doubled = json.loads(cli("sit", "index", EXAMPLE, "-f", "json", "--reference-score",
                             str(2 * 245 / 3), check_code=0).stdout)
    for a, b in zip(base["index"], doubled["index"], strict=True):
        assert b["tpi"] == pytest.approx(2 * a["tpi"])


def test_cli_bad_input_exits_2(cli, tmp_path):
    few = write(tmp_path, "2025-01-31,a,1,5,80\n2025-01-31,b,1,5,80\n2025-01-31,c,1,5,80\n")
    assert_one_line_error(cli("sit", "index", few), 2, "2025-01-31", "at least 4 providers")
    missing = tmp_path / "m.csv"
    missing.write_text("time,provider,price\n2025-01-31,a,1\n", encoding="utf-8")
    assert_one_line_error(cli("sit", "index", missing), 2, "missing column(s) volume, score")
    assert_one_line_error(cli("sit", "index", tmp_path / "nope.csv"), 2, "no such file")
    assert_one_line_error(cli("sit", "index", EXAMPLE, "--reference-score", "0"), 2, "--reference-score")

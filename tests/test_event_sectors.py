"""Events of reach `sector` reach every instrument of the sectors they list (instruments.toml's
`sector` field), in the calendar filters, the strategies' signals and the CSV round trip."""

from __future__ import annotations

import pandas as pd
import pytest

from sitcli.errors import BadInput
from sitcli.events import filter_events, load_events
from sitcli.instruments import instrument, sectors

HEADER = "time,title,category,direction,status,asset_classes,symbols,reach,source,sectors"
DEPIN = ("2025-07-15T12:00:00Z,GPU marketplace demand surge,infrastructure,1,confirmed,crypto,,"
         "sector,test,depin-ai-compute")


def write(tmp_path, *lines, name="mine.csv"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_instruments_carry_their_sector():
    assert {instrument(s).sector for s in ("NVDA", "AMD", "TSM")} == {"semiconductors"}
    assert {instrument(s).sector for s in ("RENDER/USDT", "FIL/USDT:USDT@bybit", "AKT", "TAO",
                                           "AR")} == {"depin-ai-compute"}
    assert instrument("^NDX").sector == "index"
    assert instrument("XYZ").sector == ""          # an unlisted ticker has none
    assert {"semiconductors", "depin-ai-compute", "index"} <= set(sectors())


def test_a_sector_event_reaches_every_member_and_no_one_else(tmp_path):
    events = load_events([write(tmp_path, HEADER, DEPIN)])
    title = "GPU marketplace demand surge"
    for symbol in ("RENDER/USDT", "FIL/USDT", "AKT", "TAO", "AR/USDT:USDT@binance"):
        assert title in set(filter_events(events, symbol=symbol)["title"]), symbol
    for symbol in ("NVDA", "^NDX", "SIT"):
        assert title not in set(filter_events(events, symbol=symbol)["title"]), symbol
    # the built-in export controls of reach sector reach the three chip makers, not the index
    chips = "US BIS export controls on advanced computing chips and chipmaking tools for China"
    for symbol in ("NVDA", "AMD", "TSM"):
        assert chips in set(filter_events(events, symbol=symbol)["title"]), symbol
    assert chips not in set(filter_events(events, symbol="^NDX")["title"])


def test_the_strategy_trades_a_sector_event_of_its_instrument(tmp_path):
    """RENDER/USDT (demo data) acts on a depin sector event: catalyst_momentum enters at the
    first bar opening at or after it; the same event naming only FIL does not reach RENDER."""
    from sitcli.backtest import RunConfig, run_backtest
    from sitcli.data.store import demo_store

    cfg = RunConfig(["RENDER/USDT"], leverage=2.0)
    at = pd.Timestamp("2025-07-15T12:00:00Z")

    def entries_after(row):
        events = load_events([write(tmp_path, HEADER, row)])
        trades = run_backtest(cfg, demo_store(), events).trades_frame()
        return trades[(trades["entry_time"] >= at)
                      & (trades["entry_time"] <= at + pd.Timedelta("2D"))]

    reached = entries_after(DEPIN)
    assert len(reached) == 1 and reached["entry_time"].iloc[0] == pd.Timestamp("2025-07-16",
                                                                                 tz="UTC")
    named_other = DEPIN.replace(",,sector,test,depin-ai-compute", ",FIL,symbols,test,")
    assert entries_after(named_other).empty


@pytest.mark.parametrize("row, column, fragment", [
    (DEPIN.replace("depin-ai-compute", "memes"), "sectors", "'memes' is not a sector"),
    (DEPIN.replace(",depin-ai-compute", ","), "sectors", "empty with reach sector"),
    (DEPIN.replace(",sector,", ",theme,"), "reach", "'theme' is not a reach"),
])
def test_bad_sector_rows_name_the_column_and_the_allowed_values(tmp_path, row, column, fragment):
    path = write(tmp_path, HEADER, row)
    with pytest.raises(BadInput) as err:
        load_events([path])
    msg = str(err.value)
    assert f"{path} line 2, column {column}" in msg and fragment in msg and "\n" not in msg
    if column == "sectors":
        assert "semiconductors" in msg


def test_events_list_csv_round_trips_the_sectors_column(cli, tmp_path):
    proc = cli("events", "list", "--events", str(write(tmp_path, HEADER, DEPIN)), "--since",
               "2025-07-01", "--format", "csv", check_code=0)
    header = proc.stdout.splitlines()[0]
    assert header == HEADER
    again = write(tmp_path, *proc.stdout.splitlines(), name="again.csv")
    mine = load_events([again], builtin=False)
    row = mine[mine["title"] == "GPU marketplace demand surge"].iloc[0]
    assert (row["reach"], row["sectors"]) == ("sector", "depin-ai-compute")
    table = cli("events", "list", "--events", str(write(tmp_path, HEADER, DEPIN)), "--since",
                "2025-07-15", "--category", "infrastructure", check_code=0).stdout
    assert "all depin-ai-compute" in table

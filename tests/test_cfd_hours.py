"""The hours a broker quotes an exchange-listed symbol are a venue field (`cfd_hours`):
brokers differ, so a preset (or a user venue) says it, and `--cfd-hours` overrides it."""

from __future__ import annotations

import json

from cli_helpers import assert_one_line_error


def _run(cli, *extra):
    proc = cli("backtest", "--demo", "--symbols", "NVDA", "--venue", "cfd-offshore",
               "--leverage", "2", "--format", "json", *extra)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_shipped_cfd_presets_quote_the_regular_session():
    from sitcli.instruments import venue

    assert venue("cfd-retail").cfd_hours == "session"
    assert venue("cfd-offshore").cfd_hours == "session"


def test_the_venue_field_and_the_flag_give_one_answer(cli):
    session = _run(cli)
    by_venue = _run(cli, "--set", "cfd_hours=24/7")
    by_flag = _run(cli, "--cfd-hours", "24/7")
    assert by_venue["stats"] == by_flag["stats"]
    assert "session calendar" in session["assumptions"]["event_timing"]
    assert "24/7" in by_venue["assumptions"]["event_timing"]
    # the flag beats the venue
    assert _run(cli, "--set", "cfd_hours=24/7", "--cfd-hours", "session")["stats"] == \
        session["stats"]


def test_a_bad_value_is_one_line(cli):
    proc = cli("backtest", "--demo", "--symbols", "NVDA", "--venue", "cfd-offshore",
               "--set", "cfd_hours=weekdays")
    assert_one_line_error(proc, 2, "cfd_hours 'weekdays': use session or 24/7")


def test_the_venue_field_sets_when_a_bar_opens():
    """Quoted 24/7, NVDA's daily bar opens at midnight UTC (news and finer bars of the whole
    day belong to it); in the session, at the 09:30 New York open."""
    import pandas as pd

    import sitcli

    def first_open(**kw):
        run = sitcli.backtest("buy_and_hold", ["NVDA"], venue="cfd-offshore", leverage=1,
                              store=sitcli.demo(), **kw)
        return pd.Timestamp(run.result.legs[0].open_times[0])

    session = first_open()
    around = first_open(settings={"cfd_hours": "24/7"})
    assert (session.hour, session.minute) in ((14, 30), (13, 30))
    assert (around.hour, around.minute) == (0, 0)
    assert first_open(settings={"cfd_hours": "24/7"}, cfd_hours="session") == session

"""Config files: options, user venue presets and instruments; flags win; bad keys exit 2."""

from __future__ import annotations

import json
import os

import pytest
from cli_helpers import SITCLI, assert_one_line_error, run_in_process, shared_store

BROKER = """
[venues.my-broker]
inherits = "cfd-offshore"
fee = 0.001
half_spread = 0.0004

[instruments."NDX"]
asset_class = "index"
venue = "my-broker"
calendar = "XNYS"
"""


def _json(proc) -> dict:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def ndx_store(tmp_path):
    """Real NASDAQ-100 daily bars stored as "NDX", a symbol the shipped list does not know."""
    shared_store(tmp_path / "data", {"NDX": "equities/daily/NDX.csv"})
    return tmp_path / "data"


def test_user_venue_and_instrument_in_a_backtest(tmp_path, ndx_store):
    cfg = tmp_path / "broker.toml"
    cfg.write_text(BROKER)
    args = ("backtest", "--symbols", "NDX", "--start", "2022-01-01", "--end", "2023-12-31",
            "--leverage", "20", "--format", "json")
    mine = _json(run_in_process(*args, "--config", cfg, data_dir=ndx_store))
    venue = mine["assumptions"]["venues"]["NDX"]
    # the preset: cfd-offshore's fields with the file's two overrides
    assert venue["name"] == "my-broker"
    assert (venue["fee"], venue["half_spread"]) == (0.001, 0.0004)
    assert venue["margin_mode"] == "account" and venue["closeout_level"] == 0.5
    assert venue["max_leverage"] == 1000.0          # cfd-offshore's index cap: NDX is an index
    assert mine["assumptions"]["config"] == [str(cfg)]
    # the same run spelled with flags on the shipped preset gives the same numbers (NDX
    # declared an index there too: the index cap sets the CFD's required margin)
    index_only = tmp_path / "index.toml"
    index_only.write_text('[instruments."NDX"]\nasset_class = "index"\n')
    flags = _json(run_in_process(*args, "--venue", "cfd-offshore", "--set", "fee=0.001",
                             "--set", "half_spread=0.0004", "--config", index_only,
                             data_dir=ndx_store))
    assert flags["assumptions"]["venues"]["NDX"]["name"] == "cfd-offshore"
    assert mine["stats"]["NDX"] == flags["stats"]["NDX"]
    assert mine["stats"]["NDX"]["trades"] > 0
    # the header names the file
    table = run_in_process(*args[:-2], "--config", cfg, data_dir=ndx_store)
    assert table.returncode == 0, table.stderr
    assert "my-broker" in table.stdout and str(cfg) in table.stdout


def test_user_venue_and_instrument_in_the_calculator(tmp_path, ndx_store):
    cfg = tmp_path / "broker.toml"
    cfg.write_text(BROKER)
    # 50x on an account-margin venue, fee 0.1%: qty = 10,000 x 50 / 100 = 5,000 at 100 with
    # margin 10,000; the fee is paid on top. Close-out when equity <= 0.5 x notional / cap
    # (1000x for an index): the same position on cfd-offshore --set fee=0.001
    base = ("liquidation", "--entry", "100", "--leverage", "50", "--cash", "10000",
            "--format", "json")
    mine = _json(run_in_process(*base, "--venue", "my-broker", "--config", cfg, data_dir=ndx_store))
    shipped = _json(run_in_process(*base, "--venue", "cfd-offshore", "--set", "fee=0.001",
                               "--set", "half_spread=0.0004", data_dir=ndx_store))
    assert mine["assumptions"]["venue"] == "my-broker"
    assert mine["liquidation_price"] == pytest.approx(shipped["liquidation_price"], rel=0, abs=0)
    assert mine["moves"] == shipped["moves"]
    assert mine["assumptions"]["config"] == [str(cfg)]
    # --symbol NDX: the instrument's venue from the file
    by_symbol = _json(run_in_process("liquidation", "--symbol", "NDX", "--leverage", "50",
                                 "--format", "json", "--config", cfg, data_dir=ndx_store))
    assert by_symbol["assumptions"]["venue"] == "my-broker"
    # unknown to sitcli without the file: a one-line warning that it falls back to defaults
    plain = run_in_process("liquidation", "--symbol", "NDX", "--leverage", "5", "--format", "json",
                       data_dir=ndx_store)
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout)["assumptions"]["venue"] == "cfd-retail"
    warning = [line for line in plain.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "NDX is not a listed instrument" in warning[0]
    assert "treated as equity" in warning[0]


def test_flags_beat_the_config_file(tmp_path):
    cfg = tmp_path / "opts.toml"
    cfg.write_text('[backtest]\nleverage = 3\nsymbols = "NVDA"\ncash = 5000\n')
    from_file = _json(run_in_process("backtest", "--demo", "--config", cfg, "--format", "json",
                                 data_dir=tmp_path / "data"))
    assert from_file["assumptions"]["venues"]["NVDA"]["leverage"] == 3.0
    assert from_file["assumptions"]["initial_cash_per_account"] == 5000.0
    assert list(from_file["stats"]) == ["NVDA"]
    flagged = _json(run_in_process("backtest", "--demo", "--config", cfg, "--leverage", "2",
                               "--format", "json", data_dir=tmp_path / "data"))
    assert flagged["assumptions"]["venues"]["NVDA"]["leverage"] == 2.0
    assert flagged["assumptions"]["initial_cash_per_account"] == 5000.0   # still the file's
    # a later --config wins over an earlier one
    later = tmp_path / "later.toml"
    later.write_text("[backtest]\nleverage = 4\n")
    both = _json(run_in_process("backtest", "--demo", "--config", cfg, "--config", later,
                            "--format", "json", data_dir=tmp_path / "data"))
    assert both["assumptions"]["venues"]["NVDA"]["leverage"] == 4.0
    assert both["assumptions"]["config"] == [str(cfg), str(later)]


def _env_run(*args, env_extra: dict, drop=()):
    import subprocess

    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **env_extra}
    for key in drop:
        env.pop(key, None)
    return subprocess.run([str(SITCLI), *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)


def test_user_level_file_via_the_environment(tmp_path):
    """Four runs of the installed entry point in subprocesses, because what is tested is the
    process's own environment (SITCLI_CONFIG, XDG_CONFIG_HOME); about 20 s on a loaded
    machine."""
    user = tmp_path / "user.toml"
    user.write_text('[backtest]\nleverage = 3\n')
    data = {"SITCLI_DATA_DIR": str(tmp_path / "data")}
    proc = _env_run("backtest", "--demo", "--symbols", "NVDA", "--format", "json",
                    env_extra={**data, "SITCLI_CONFIG": str(user)})
    payload = _json(proc)
    assert payload["assumptions"]["venues"]["NVDA"]["leverage"] == 3.0
    assert payload["assumptions"]["config"] == [str(user)]
    # the platform's config directory (XDG on Linux) when SITCLI_CONFIG is unset
    home = tmp_path / "xdg"
    (home / "sitcli").mkdir(parents=True)
    (home / "sitcli" / "config.toml").write_text('[backtest]\nleverage = 4\n')
    proc = _env_run("backtest", "--demo", "--symbols", "NVDA", "--format", "json",
                    env_extra={**data, "XDG_CONFIG_HOME": str(home)}, drop=("SITCLI_CONFIG",))
    payload = _json(proc)
    assert payload["assumptions"]["venues"]["NVDA"]["leverage"] == 4.0
    assert payload["assumptions"]["config"] == [str(home / "sitcli" / "config.toml")]
    # --config on top of the user file wins
    cli = tmp_path / "cli.toml"
    cli.write_text('[backtest]\nleverage = 2\n')
    proc = _env_run("backtest", "--demo", "--symbols", "NVDA", "--format", "json",
                    "--config", cli, env_extra={**data, "SITCLI_CONFIG": str(user)})
    assert _json(proc)["assumptions"]["venues"]["NVDA"]["leverage"] == 2.0
    # SITCLI_CONFIG naming a missing file is an error, not silently ignored
    proc = _env_run("backtest", "--demo", "--symbols", "NVDA",
                    env_extra={**data, "SITCLI_CONFIG": str(tmp_path / "nope.toml")})
    assert_one_line_error(proc, 2, "SITCLI_CONFIG=", "nope.toml")


@pytest.mark.parametrize("text, fragments", [
    ('[backtest]\nlevrage = 5\n', ["[backtest] levrage = 5", "not an option of `sitcli backtest`",
                                   "leverage"]),
    ('[backtest]\nleverage = "lots"\n', ["[backtest] leverage = 'lots'", "valid number"]),
    ('[backtest]\nfill = "midday"\n', ["[backtest] fill = 'midday'", "open", "close"]),
    ('[backtst]\nleverage = 5\n', ["[backtst]", "not a command", "backtest"]),
    ('colour = "red"\n', ["colour = 'red'", "no command has an option --colour"]),
    ('[venues.b]\ninherits = "cfd-offshore"\nfees = 0.1\n', ["[venues.b] fees = 0.1",
                                                             "not a venue field", "fee"]),
    ('[venues.b]\ninherits = "cfd-offshore"\nfee = -0.1\n', ["[venues.b] fee", "-0.1", "[0, 0.1]"]),
    ('[venues.b]\ninherits = "nowhere"\n', ["[venues.b] inherits = 'nowhere'", "cfd-retail"]),
    ('[instruments."NDX"]\nasset_class = "bond"\n', ['[instruments."NDX"] asset_class = \'bond\'',
                                                    "equity, index, crypto, synthetic"]),
    ('[instruments."NDX"]\nasset_class = "index"\ncalendar = "XXXX"\n',
     ['calendar = \'XXXX\'', "XNYS", "24/7"]),
    ('[backtest\nleverage = 5\n', ["not valid TOML"]),
])
def test_bad_config_is_one_line_naming_file_key_and_value(tmp_path, text, fragments):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    proc = run_in_process("backtest", "--demo", "--symbols", "NVDA", "--config", cfg,
                      data_dir=tmp_path / "data")
    assert_one_line_error(proc, 2, str(cfg), *fragments)
    assert not (tmp_path / "data").exists()   # nothing ran, nothing written


def test_missing_config_file(tmp_path):
    proc = run_in_process("backtest", "--demo", "--config", tmp_path / "none.toml",
                      data_dir=tmp_path / "data")
    assert_one_line_error(proc, 2, "--config", "none.toml", "no such file")


def test_data_import_asset_class_declares_the_instrument(tmp_path, cli):
    csv = tmp_path / "xyz.csv"
    csv.write_text("date,open,high,low,close,volume\n" + "".join(
        f"2024-01-{d:02d},{100 + d},{101 + d},{99 + d},{100.5 + d},10\n" for d in range(1, 29)))
    # undeclared: XYZUSDT has no slash, so its name says equity; the fallback is announced
    cli("data", "import", csv, "--symbol", "XYZUSDT", check_code=0)
    plain = cli("liquidation", "--symbol", "XYZUSDT", "--leverage", "2", "--format", "json",
                check_code=0)
    assert json.loads(plain.stdout)["assumptions"]["venue"] == "cfd-retail"
    assert "warning: XYZUSDT is not a listed instrument: treated as equity" in plain.stderr
    assert "--asset-class" in plain.stderr
    # declared crypto on import: a perpetual venue, no warning
    out = cli("data", "import", csv, "--symbol", "XYZUSDT", "--asset-class", "crypto",
              "--format", "json", check_code=0)
    row = json.loads(out.stdout)
    assert (row["asset_class"], row["venue"], row["calendar"]) == ("crypto", "perp-isolated",
                                                                  "24/7")
    declared = cli("liquidation", "--symbol", "XYZUSDT", "--leverage", "2", "--format", "json",
                   check_code=0)
    assert json.loads(declared.stdout)["assumptions"]["venue"] == "perp-isolated"
    assert "warning" not in declared.stderr
    bad = cli("data", "import", csv, "--symbol", "XYZUSDT", "--asset-class", "bond")
    assert bad.returncode == 2 and "bond" in bad.stderr


def test_file_layout_top_level_commands_subcommands_and_relative_paths(tmp_path):
    """In-process: what each part of a file becomes (click's default_map per command)."""
    import typer

    from sitcli import config
    from sitcli.cli import app

    cfg = tmp_path / "conf" / "all.toml"
    cfg.parent.mkdir()
    cfg.write_text('quiet = true\n[backtest]\nevents = ["my.csv"]\nrank_by = "sharpe"\n'
                   '[data.import]\nsource = "mine"\n')
    loaded = config.load([cfg], typer.main.get_command(app))
    dm = loaded.default_map
    # a top-level value reaches every command with that option, and only those
    assert dm["backtest"]["quiet"] is True and dm["data"]["import"]["quiet"] is True
    assert "quiet" not in dm.get("liquidation", {})
    # flags by their names (rank_by or rank-by), paths relative to the file
    assert dm["backtest"]["rank_by"] == "sharpe"
    assert dm["backtest"]["events_files"] == [str(cfg.parent / "my.csv")]
    assert dm["data"]["import"]["source"] == "mine"
    assert loaded.files == [cfg]

"""Options, venue presets and instruments from TOML files.

Read in this order, later files winning: the user's file in the platform config directory
(or the file $SITCLI_CONFIG names; SITCLI_CONFIG="" reads none), then each `--config FILE`.
Flags on the command line beat every file: a file's options become the commands' defaults
(click's `default_map`), which a flag replaces.

    format = "table"                 # a top-level option: every command that has it
    [backtest]                       # one command's options, named as their flags
    leverage = 20
    set = ["fee=0.001"]
    [data.import]                    # a subcommand's
    source = "csv"
    [venues.my-broker]               # a venue preset: a shipped one's fields, overridden
    inherits = "cfd-offshore"
    fee = 0.0003
    [instruments."NDX"]              # an instrument: asset class, venue, session calendar
    asset_class = "index"
    venue = "my-broker"
    calendar = "XNYS"

Anything a file gets wrong is `BadInput` naming the file, the key, the value and what is
allowed (exit 2).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from sitcli.errors import BadInput

ENV = "SITCLI_CONFIG"
CALENDAR_HELP = 'an exchange-calendars code such as XNYS, or "24/7"'
INSTRUMENT_KEYS = ("asset_class", "venue", "calendar", "name")


@dataclass
class Loaded:
    """What the files said: the options per command (click's default_map), and the files."""

    files: list[Path] = field(default_factory=list)
    default_map: dict = field(default_factory=dict)
    venues: dict = field(default_factory=dict)
    instruments: dict = field(default_factory=dict)


# the files the running command read (the run header and the run manifest name them)
ACTIVE = Loaded()


def files_used() -> list[str]:
    return [str(p) for p in ACTIVE.files]


def user_file() -> Path | None:
    """The user-level config file: $SITCLI_CONFIG if set (empty: none), else config.toml in
    the platform's config directory when it exists."""
    if ENV in os.environ:
        named = os.environ[ENV].strip()
        if not named:
            return None
        path = Path(named).expanduser()
        if not path.is_file():
            raise BadInput(f"{ENV}={named}: no such file; point it at a TOML config file or "
                           f"set {ENV}= (empty) to read none")
        return path
    import platformdirs

    path = Path(platformdirs.user_config_dir("sitcli")) / "config.toml"
    return path if path.is_file() else None


def split_argv(argv: list[str]) -> tuple[list[str], list[Path]]:
    """The command line without its `--config FILE` options, and those files in order."""
    rest, files = [], []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        if arg == "--config":
            if i + 1 >= len(argv):
                raise BadInput("--config needs a FILE, e.g. --config sitcli.toml")
            files.append(Path(argv[i + 1]))
            i += 2
            continue
        if arg.startswith("--config="):
            files.append(Path(arg.split("=", 1)[1]))
        else:
            rest.append(arg)
        i += 1
    return rest, files


def read(path: Path) -> dict:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"--config {path}: no such file") from None
    except OSError as exc:
        raise BadInput(f"--config {path}: cannot be read ({exc.strerror or exc})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{path}: not valid TOML ({exc})") from None


def load(paths: list[Path], command=None) -> Loaded:
    """Read the files (later ones win), check every key and value, and make their venues and
    instruments known (`sitcli.instruments.add_user_entries`). `command` is the click command
    tree whose options the files may set (None: options are not checked nor returned)."""
    from sitcli.instruments import add_user_entries

    out = Loaded(files=[Path(p) for p in paths])
    for path in out.files:
        data = read(path)
        venues = data.pop("venues", {})
        instruments = data.pop("instruments", {})
        _need_table(path, "venues", venues)
        _need_table(path, "instruments", instruments)
        for name, row in venues.items():
            out.venues[name] = venue_row(path, name, row, {**out.venues})
        add_user_entries(venues=out.venues)
        for symbol, row in instruments.items():
            out.instruments[symbol] = instrument_row(path, symbol, row)
        add_user_entries(instruments=out.instruments)
        if command is not None:
            _merge(out.default_map, options(path, data, command))
    return out


def activate(loaded: Loaded) -> None:
    global ACTIVE
    ACTIVE = loaded


# --- venue presets and instruments -----------------------------------------------------------

def _need_table(path: Path, key: str, value) -> None:
    if not isinstance(value, dict):
        raise BadInput(f"{path}: {key} = {value!r}: expected a table, e.g. [{key}.NAME]")


def venue_row(path: Path, name: str, row, earlier: dict) -> dict:
    """A user preset as a full venues.toml row: its parent's fields (`inherits`), overridden."""
    from sitcli.instruments import ASSET_CLASSES, Venue, venue, venues_table

    where = f"{path}: [venues.{name}]"
    if not isinstance(row, dict):
        raise BadInput(f"{where} = {row!r}: expected a table of venue fields")
    allowed = [f.name for f in fields(Venue) if f.name != "name"]
    row = dict(row)
    parent = row.pop("inherits", None)
    for key, value in row.items():
        if key not in allowed:
            raise BadInput(f"{where} {key} = {value!r}: not a venue field; use inherits or one "
                           f"of {', '.join(allowed)}")
    if parent is None:
        missing = [k for k in allowed if k not in row and k not in ("tier_source",
                                                                   "liquidation_rule", "tiers",
                                                                   "cfd_hours")]
        if missing:
            raise BadInput(f"{where}: missing {', '.join(missing)}; give them, or start from a "
                           'shipped preset with inherits = "cfd-offshore"')
        full = row
    else:
        table = {**venues_table(), **earlier}
        aliases = table.get("aliases", {})
        key = aliases.get(parent, parent)
        if key not in table or key in ("tiers", "aliases"):
            known = [k for k in table if k not in ("tiers", "aliases")] + list(aliases)
            raise BadInput(f"{where} inherits = {parent!r}: not a venue; use one of "
                           f"{', '.join(known)}")
        full = dict(table[key])
        caps = full.get("max_leverage")
        if isinstance(caps, dict) and isinstance(row.get("max_leverage"), dict):
            row["max_leverage"] = {**caps, **row["max_leverage"]}
        full.update(row)
        full["description"] = row.get("description", f"{name}: {parent} with "
                                      f"{', '.join(f'{k}={v}' for k, v in row.items()) or 'no changes'}")
    caps = full.get("max_leverage")
    if isinstance(caps, dict):
        for cls in caps:
            if cls not in ASSET_CLASSES:
                raise BadInput(f"{where} max_leverage.{cls}: not an asset class; use "
                               f"{', '.join(ASSET_CLASSES)}")
        if set(caps) != set(ASSET_CLASSES):
            raise BadInput(f"{where} max_leverage = {caps!r}: give a cap for each of "
                           f"{', '.join(ASSET_CLASSES)}, or one number")
    _check_venue(where, name, full)
    # each asset class builds: the shipped loader's own checks, named after the file
    from sitcli.instruments import USER_VENUES

    saved = dict(USER_VENUES)
    USER_VENUES[name] = full
    venues_table.cache_clear()
    try:
        for cls in ASSET_CLASSES:
            venue(name, cls)
    except BadInput as exc:
        raise BadInput(f"{where}: {exc}") from None
    except TypeError as exc:
        raise BadInput(f"{where}: {exc}") from None
    finally:
        USER_VENUES.clear()
        USER_VENUES.update(saved)
        venues_table.cache_clear()
    return full


def _check_venue(where: str, name: str, row: dict) -> None:
    from sitcli.domains import VENUE, check
    from sitcli.instruments import venues_table

    for key, value in row.items():
        if key in VENUE:
            values = value.values() if isinstance(value, dict) else [value]
            for v in values:
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise BadInput(f"{where} {key} = {v!r}: expected {VENUE[key].describe()}")
                check(f"{where} {key}", float(v), VENUE[key])
        elif key in ("negative_balance_protection",) and not isinstance(value, bool):
            raise BadInput(f"{where} {key} = {value!r}: expected true or false")
        elif key == "tiers" and value not in venues_table()["tiers"]:
            raise BadInput(f"{where} tiers = {value!r}: not a tier table; use one of "
                           f"{', '.join(venues_table()['tiers'])}")
        elif key == "margin_mode" and value not in ("isolated", "cross", "account"):
            raise BadInput(f"{where} margin_mode = {value!r}: use isolated, cross or account")


def instrument_row(path: Path, symbol: str, row) -> dict:
    from sitcli.instruments import ASSET_CLASSES, venue_names

    where = f"{path}: [instruments.\"{symbol}\"]"
    if not isinstance(row, dict):
        raise BadInput(f"{where} = {row!r}: expected a table with asset_class, venue, calendar")
    for key, value in row.items():
        if key not in INSTRUMENT_KEYS:
            raise BadInput(f"{where} {key} = {value!r}: not an instrument field; use "
                           f"{', '.join(INSTRUMENT_KEYS)}")
    cls = row.get("asset_class")
    if cls not in ASSET_CLASSES:
        raise BadInput(f"{where} asset_class = {cls!r}: use one of {', '.join(ASSET_CLASSES)}")
    venue = row.get("venue", default_venue(cls))
    if venue not in venue_names():
        raise BadInput(f"{where} venue = {venue!r}: not a venue; use one of "
                       f"{', '.join(venue_names())}")
    calendar = row.get("calendar", default_calendar(cls))
    if not known_calendar(calendar):
        raise BadInput(f"{where} calendar = {calendar!r}: use {CALENDAR_HELP}")
    return {"name": str(row.get("name", symbol)), "asset_class": cls, "venue": venue,
            "calendar": calendar}


def default_venue(asset_class: str) -> str:
    return "perp-isolated" if asset_class == "crypto" else "cfd-retail"


def default_calendar(asset_class: str) -> str:
    return "24/7" if asset_class == "crypto" else "XNYS"


def known_calendar(code) -> bool:
    if code == "24/7":
        return True
    if not isinstance(code, str):
        return False
    import exchange_calendars as xcals

    return code in xcals.get_calendar_names()


# --- instruments a store declares (`data import --asset-class`) ------------------------------

STORE_INSTRUMENTS = "instruments.toml"


def load_store_instruments(root: Path) -> None:
    """The instruments `data import --asset-class` declared in this store."""
    from sitcli.instruments import add_user_entries

    path = Path(root) / STORE_INSTRUMENTS
    if not path.is_file():
        return
    data = read(path)
    add_user_entries(instruments={s: instrument_row(path, s, row) for s, row in data.items()})


def declare_instrument(root: Path, symbol: str, asset_class: str) -> dict:
    """Record `symbol`'s asset class in the store (with that class's default venue and
    calendar), replacing an earlier declaration; returns the row."""
    from sitcli.files import atomic_write
    from sitcli.instruments import add_user_entries, base_symbol

    path = Path(root) / STORE_INSTRUMENTS
    data = read(path) if path.is_file() else {}
    key = base_symbol(symbol) if asset_class == "crypto" else symbol
    data[key] = instrument_row(path, key, {"asset_class": asset_class})
    text = "".join(f'["{_escape(s)}"]\n' + "".join(f'{k} = "{_escape(v)}"\n' for k, v in row.items())
                   + "\n" for s, row in data.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda p: p.write_text(
        "# Instruments declared by `sitcli data import --asset-class`\n\n" + text,
        encoding="utf-8"))
    add_user_entries(instruments={key: data[key]})
    return data[key]


def _escape(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace('"', '\\"')


# --- command options ---------------------------------------------------------------------------

def options(path: Path, data: dict, command) -> dict:
    """The default_map of one file: top-level values go to every command that has the
    option; a table named after a command (or group) holds that command's options."""
    commands = list(_leaves(command))
    out: dict = {}
    for key, value in data.items():
        if isinstance(value, dict):
            sub = _subcommands(command).get(key)
            if sub is None:
                names = sorted(_subcommands(command))
                raise BadInput(f"{path}: [{key}]: not a command; use a command name "
                               f"({', '.join(names)}), venues or instruments")
            _merge(out.setdefault(key, {}), _command_options(path, key, value, sub))
            continue
        takers = [(names, cmd) for names, cmd in commands if _param(cmd, key) is not None]
        if not takers:
            raise BadInput(f"{path}: {key} = {value!r}: no command has an option --{_flag(key)}; "
                           "put command options under [COMMAND]")
        for names, cmd in takers:
            param = _param(cmd, key)
            slot = out
            for name in names:
                slot = slot.setdefault(name, {})
            slot[param.name] = _value(path, " ".join(names), key, value, param, cmd)
    return out


def _subcommands(command) -> dict:
    """A group's commands by name ({} for a command)."""
    return dict(getattr(command, "commands", None) or {})


def _command_options(path: Path, where: str, table: dict, command) -> dict:
    out = {}
    for key, value in table.items():
        if _subcommands(command):
            sub = _subcommands(command).get(key)
            if sub is None or not isinstance(value, dict):
                raise BadInput(f"{path}: [{where}] {key}: not a subcommand of `sitcli {where}`; "
                               f"use [{where}.NAME] with NAME one of "
                               f"{', '.join(sorted(_subcommands(command)))}")
            out[key] = _command_options(path, f"{where}.{key}", value, sub)
            continue
        param = _param(command, key)
        if param is None:
            flags = sorted(_flag(o) for p in command.params for o in p.opts
                           if o.startswith("--") and p.name not in ("debug",))
            raise BadInput(f"{path}: [{where}] {key} = {value!r}: not an option of `sitcli "
                           f"{where.replace('.', ' ')}`; use one of {', '.join(flags)}")
        out[param.name] = _value(path, where, key, value, param, command)
    return out


def _leaves(command, names=()):
    if _subcommands(command):
        for name, sub in _subcommands(command).items():
            yield from _leaves(sub, (*names, name))
    else:
        yield names, command


def _flag(key: str) -> str:
    return key.strip().lstrip("-").replace("_", "-")


def _param(command, key: str):
    """The option whose long flag is --KEY (underscores or hyphens), else the parameter
    named KEY (an argument such as backtest's STRATEGY)."""
    flag = "--" + _flag(key)
    for p in command.params:
        if flag in p.opts:
            return p
    for p in command.params:
        if p.name == key.replace("-", "_") and not any(o.startswith("--") for o in p.opts):
            return p
    return None


def _value(path: Path, where: str, key: str, value, param, command):
    """The value click will use, checked now so a bad one names the file; paths relative to
    the file's directory."""
    from typer import _click

    if getattr(param, "multiple", False) and not isinstance(value, list):
        value = [value]
    if _is_path(param.type_descriptor.annotation):
        base = Path(path).resolve().parent
        value = ([str(base / Path(v).expanduser()) for v in value] if isinstance(value, list)
                 else str(base / Path(value).expanduser()))
    try:
        param.get_runtime_param().coerce(value, param=param, ctx=_click.Context(command))
    except _click.exceptions.UsageError as exc:
        from sitcli.cli.options import usage_message

        raise BadInput(f"{path}: [{where}] {key} = {value!r}: "
                       f"{usage_message(exc.format_message())}") from None
    except (TypeError, ValueError) as exc:
        raise BadInput(f"{path}: [{where}] {key} = {value!r}: {exc}") from None
    return value


def _is_path(annotation) -> bool:
    """Path, Optional[Path] or list[Path]."""
    import typing

    if annotation is Path:
        return True
    return any(_is_path(a) for a in typing.get_args(annotation))


def _merge(into: dict, new: dict) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def record(assumptions: dict) -> dict:
    """Name the config files read in a run's assumptions (JSON and the run header)."""
    if ACTIVE.files:
        assumptions["config"] = files_used()
    return assumptions

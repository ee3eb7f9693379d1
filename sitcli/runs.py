"""Run history: the manifest (run.json) each saved backtest, sweep and scenario writes.

A manifest records how to run the same thing again and what it read and wrote: the command
line (or the Python call), the config files and options they gave, the sitcli version, a
fingerprint of every stored file the run read (path below the store, sha256, first and last
bar, rows) and of every file it wrote, and a summary of the results. `sitcli runs` lists,
shows, compares and re-runs them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
from pathlib import Path

MANIFEST = "run.json"
INDEX = "index.jsonl"
RERUN_ENV = "SITCLI_RERUN"   # set by `runs rerun`: the rerun is not added to the history

# the command line of the running `sitcli` process (set by `sitcli.cli.main`)
ARGV: list[str] = []
# stored bar files read since `start_tracking` (sitcli.data.store.Store._read_file adds them)
READ: dict[str, Path] = {}


def start_tracking() -> None:
    READ.clear()


def note_read(path: Path) -> None:
    READ[str(Path(path).resolve())] = Path(path).resolve()


def runs_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "runs"


def new_id(command: str) -> str:
    now = dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%d-%H%M%S}-{command}-{secrets.token_hex(2)}"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _relative(path: Path, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(Path(path).resolve())


def data_fingerprints(paths, root: Path) -> list[dict]:
    """For each stored file: its path below the store, sha256, first and last bar, rows."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    out = []
    for path in sorted(set(Path(p) for p in paths)):
        row = {"path": _relative(path, root), "sha256": sha256(path), "first": None,
               "last": None, "rows": None}
        try:
            times = pq.read_table(path, columns=["time"]).column("time")
            bounds = pc.min_max(times)
            row.update(first=bounds["min"].as_py(), last=bounds["max"].as_py(), rows=len(times))
        except Exception:   # a fingerprint without the span is still a fingerprint
            pass
        out.append(row)
    return out


def argument_files(argv: list[str], cwd: Path) -> list[dict]:
    """Files the command line names (strategy .py, --events CSV, --config TOML): hashed, so a
    rerun can tell when one changed. Output paths are left out by the caller."""
    out = []
    for token in argv:
        text = token.split("=", 1)[1] if token.startswith("--") and "=" in token else token
        path = Path(cwd) / Path(text).expanduser()
        if not text.startswith("-") and path.is_file():
            out.append({"path": text, "sha256": sha256(path)})
    return out


def write_manifest(target: Path, *, command: str, store_root: Path, outputs: list[Path],
                   results: dict, argv: list[str] | None = None, api: dict | None = None,
                   run_id: str | None = None, data_dir: Path | None = None,
                   saved_as: str | None = None) -> dict:
    """Write the manifest to `target` (a run directory gets run.json, a file FILE gets
    FILE.run.json) and add the run to the history under the data directory."""
    from sitcli import __version__
    from sitcli.cli.render import _plain
    from sitcli.config import ACTIVE, files_used
    from sitcli.files import atomic_write

    target = Path(target)
    path = target / MANIFEST if target.is_dir() else target.with_name(target.name + ".run.json")
    outs = [Path(p) for p in outputs if Path(p).is_file()]
    out_names = {str(p.resolve()) for p in outs}
    cwd = Path.cwd()
    # files the command line names, but not its outputs nor the config files (hashed below)
    skip = out_names | {str((cwd / p).resolve()) for p in files_used()}
    args = [a for a in (argv or []) if str((cwd / a).resolve()) not in skip] if argv else []
    user = os.environ.get("SITCLI_CONFIG")
    manifest = {
        "id": run_id or new_id(command),
        "command": command,
        "argv": list(argv) if argv else None,   # None: from Python, or typer's test runner
        "api": api,
        "cwd": str(cwd),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "sitcli_version": __version__,
        "config": {"files": [{"path": p, "sha256": sha256(Path(p))} for p in files_used()],
                   "user_file_env": user,
                   "options": ACTIVE.default_map.get(command, {}),
                   "venues": ACTIVE.venues, "instruments": ACTIVE.instruments},
        "store": str(Path(store_root).resolve()),
        "data_dir": None if data_dir is None else str(Path(data_dir).resolve()),
        "data": data_fingerprints(READ.values(), store_root),
        "argument_files": argument_files(args, cwd),
        "outputs": {_relative(p, path.parent): sha256(p) for p in outs},
        "results": results,
    }
    if saved_as:   # --save of a command whose --out is a file: the file's name in the folder
        manifest["saved_as"] = saved_as
    manifest = _plain(manifest)
    atomic_write(path, lambda p: p.write_text(json.dumps(manifest, indent=2, allow_nan=False)
                                              + "\n"))
    if data_dir is not None and not os.environ.get(RERUN_ENV):
        _register(Path(data_dir), manifest["id"], path)
    return manifest


def _register(data_dir: Path, run_id: str, path: Path) -> None:
    """Add the run to the history index (a read-only data directory keeps no history)."""
    index = runs_dir(data_dir) / INDEX
    try:
        index.parent.mkdir(parents=True, exist_ok=True)
        with open(index, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"id": run_id, "manifest": str(path.resolve())}) + "\n")
    except OSError:
        pass


def save_dir(data_dir: Path, command: str) -> tuple[str, Path]:
    """A new run folder under the data directory (for --save without --out)."""
    run_id = new_id(command)
    return run_id, runs_dir(data_dir) / run_id


# --- reading the history ------------------------------------------------------------------------

def history(data_dir: Path) -> list[tuple[str, Path]]:
    """(id, manifest path) of every recorded run, oldest first; runs whose files are gone are
    left out."""
    seen: dict[str, Path] = {}
    index = runs_dir(data_dir) / INDEX
    if index.is_file():
        for line in index.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if Path(row["manifest"]).is_file():
                seen[row["id"]] = Path(row["manifest"])
    folder = runs_dir(data_dir)
    if folder.is_dir():
        for path in folder.glob(f"*/{MANIFEST}"):
            seen.setdefault(path.parent.name, path)
    return sorted(seen.items(), key=lambda kv: _created(kv[1]))


def _created(path: Path) -> str:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("created", "")
    except (OSError, ValueError):
        return ""


def find(ref: str, data_dir: Path) -> Path:
    """The manifest of a run: its id (or a unique start of it), its directory, or the
    manifest file itself."""
    from sitcli.errors import BadInput

    path = Path(ref).expanduser()
    if path.is_dir() and (path / MANIFEST).is_file():
        return path / MANIFEST
    if path.is_file() and path.suffix == ".json":
        return path
    if path.is_file() and Path(str(path) + ".run.json").is_file():
        return Path(str(path) + ".run.json")
    runs = history(data_dir)
    exact = [p for i, p in runs if i == ref]
    if exact:
        return exact[-1]
    prefix = [(i, p) for i, p in runs if i.startswith(ref) or ref in i]
    if len(prefix) == 1:
        return prefix[0][1]
    if prefix:
        raise BadInput(f"run {ref!r}: matches {len(prefix)} runs ({', '.join(i for i, _ in prefix[:5])}"
                       f"{', ...' if len(prefix) > 5 else ''}); give more of its id")
    raise BadInput(f"run {ref!r}: no such run in {runs_dir(data_dir)} and no run directory "
                   "by that name; see `sitcli runs list`")


def load(path: Path) -> dict:
    from sitcli.errors import BadInput

    try:
        manifest = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInput(f"{path}: not a readable run manifest ({exc})") from None
    if not isinstance(manifest, dict) or "command" not in manifest:
        raise BadInput(f"{path}: not a run manifest (no command)")
    manifest["_path"] = str(path)
    return manifest


# --- what changed ---------------------------------------------------------------------------

def input_changes(manifest: dict) -> list[str]:
    """The recorded inputs that differ now: version, stored data files, config files and the
    files the command line names, each named."""
    from sitcli import __version__

    out = []
    if manifest.get("sitcli_version") != __version__:
        out.append(f"sitcli version {manifest.get('sitcli_version')} recorded, {__version__} now")
    root = Path(manifest["store"])
    for row in manifest.get("data", []):
        path = root / row["path"]
        if not path.is_file():
            out.append(f"data file {row['path']} is gone from {root}")
        elif sha256(path) != row["sha256"]:
            out.append(f"data file {row['path']} changed (sha256 {row['sha256'][:12]} recorded, "
                       f"{sha256(path)[:12]} now)")
    cwd = Path(manifest.get("cwd", "."))
    for kind, rows in (("config file", manifest.get("config", {}).get("files", [])),
                       ("file", manifest.get("argument_files", []))):
        for row in rows:
            path = cwd / Path(row["path"]).expanduser()
            if not path.is_file():
                out.append(f"{kind} {row['path']} is gone")
            elif sha256(path) != row["sha256"]:
                out.append(f"{kind} {row['path']} changed (sha256 {row['sha256'][:12]} "
                           f"recorded, {sha256(path)[:12]} now)")
    return out


def arg_items(argv: list[str] | None) -> list[str]:
    """A command line as its options with their values ("--leverage 20"), in order."""
    items, i, argv = [], 0, list(argv or [])
    while i < len(argv):
        token = argv[i]
        if token.startswith("-") and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            items.append(f"{token} {argv[i + 1]}")
            i += 2
        else:
            items.append(token)
            i += 1
    return items


def differences(a: dict, b: dict) -> list[dict]:
    """What differed in the inputs of two runs: arguments, config, data, version."""
    rows = []
    if a.get("command") != b.get("command"):
        rows.append({"input": "command", "A": a.get("command"), "B": b.get("command")})
    args_a = arg_items(a.get("argv")) if a.get("argv") is not None else [json.dumps(a.get("api"))]
    args_b = arg_items(b.get("argv")) if b.get("argv") is not None else [json.dumps(b.get("api"))]
    # where the files went is not an input
    only_a = [x for x in args_a if x not in args_b and not _output_arg(x)]
    only_b = [x for x in args_b if x not in args_a and not _output_arg(x)]
    if only_a or only_b:
        rows.append({"input": "args", "A": " ".join(only_a) or "-", "B": " ".join(only_b) or "-"})
    ca, cb = a.get("config", {}), b.get("config", {})
    for key in ("files", "options", "venues", "instruments"):
        if ca.get(key) != cb.get(key):
            rows.append({"input": f"config {key}", "A": _short(ca.get(key)),
                         "B": _short(cb.get(key))})
    da = {r["path"]: r for r in a.get("data", [])}
    db = {r["path"]: r for r in b.get("data", [])}
    for path in sorted(set(da) | set(db)):
        ra, rb = da.get(path), db.get(path)
        if ra is None or rb is None or ra["sha256"] != rb["sha256"]:
            rows.append({"input": f"data {path}", "A": _span(ra), "B": _span(rb)})
    if a.get("store") != b.get("store"):
        rows.append({"input": "store", "A": a.get("store"), "B": b.get("store")})
    if a.get("sitcli_version") != b.get("sitcli_version"):
        rows.append({"input": "sitcli version", "A": a.get("sitcli_version"),
                     "B": b.get("sitcli_version")})
    return rows


def _output_arg(item: str) -> bool:
    return item == "--save" or item.startswith(("--out ", "--out="))


def _short(value) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


def _span(row: dict | None) -> str:
    if row is None:
        return "not read"
    return (f"{str(row.get('first'))[:10]}..{str(row.get('last'))[:10]} {row.get('rows')} rows "
            f"sha256 {row['sha256'][:12]}")


def rerun_argv(manifest: dict, into: Path) -> tuple[list[str], Path]:
    """The recorded command line writing below `into` instead of its own output, and the
    directory its output files land in (named in the manifest as they were)."""
    from sitcli.errors import BadInput

    argv = list(manifest.get("argv") or [])
    if not argv:
        call = (manifest.get("api") or {}).get("function", "no command line")
        raise BadInput(f"run {manifest['id']}: recorded from Python ({call}); rerun it by "
                       "calling the same function")
    target = Path(manifest["_path"])
    name = (target.name[:-len(".run.json")] if target.name.endswith(".run.json")
            else None)                                 # a sweep's FILE.run.json: FILE
    file_out = name or manifest.get("saved_as")    # a sweep writes one file, named so
    name = file_out or "out"
    out, i, has_out = [], 0, False
    while i < len(argv):
        token = argv[i]
        if token == "--out" and i + 1 < len(argv):
            out += ["--out", str(into / name)]
            has_out = True
            i += 2
            continue
        if token.startswith("--out="):
            out.append(f"--out={into / name}")
            has_out = True
        elif token != "--save":
            out.append(token)
        i += 1
    if not has_out:
        out += ["--out", str(into / name)]
    return out, (into if file_out else into / name)


def compare_outputs(manifest: dict, produced: Path) -> tuple[list[str], list[str]]:
    """(identical, differing) output files: the recorded hashes against the rerun's."""
    same, differ = [], []
    for name, digest in manifest.get("outputs", {}).items():
        path = produced / name
        if path.is_file() and sha256(path) == digest:
            same.append(name)
        else:
            differ.append(name if path.is_file() else f"{name} (not written)")
    return same, differ

"""Derived tables kept between runs, so a warm command skips rebuilding them.

A cached table is a few numpy arrays in one `.npz` file under the cache directory
($SITCLI_CACHE_DIR, else the platform's user cache directory), named by what it holds and
by a key that changes whenever its source could (the installed library's files). It is only
ever a copy: an unreadable, corrupt or missing file is rebuilt from the source, and a cache
that cannot be written (read-only home, full disk) costs the rebuild on the next run, never
an error.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import zipfile
from pathlib import Path

import numpy as np


def cache_dir() -> Path:
    env = os.environ.get("SITCLI_CACHE_DIR", "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("sitcli"))


def package_stamp(package: str) -> str:
    """Where `package` is installed and when its files were written, without importing it
    (reading its version through importlib.metadata costs ~0.1 s; this costs microseconds)."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return "absent"
    folder = Path(spec.origin).parent
    marks = [str(folder)]
    for name in ("__init__.py", "_version.py"):
        try:
            st = (folder / name).stat()
            marks.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            marks.append(f"{name}:-")
    return hashlib.sha1("|".join(marks).encode()).hexdigest()[:16]


def path_for(name: str, key: str) -> Path:
    return cache_dir() / f"{name}-{key}.npz"


def load(name: str, key: str) -> dict[str, np.ndarray] | None:
    """The arrays stored under (name, key), or None when absent or unreadable."""
    try:
        with np.load(path_for(name, key), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return None


def save(name: str, key: str, arrays: dict[str, np.ndarray]) -> None:
    """Store `arrays` under (name, key), atomically; a failure to write is ignored."""
    from sitcli.errors import RuntimeFailure
    from sitcli.files import atomic_write

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    try:
        atomic_write(path_for(name, key), write)
    except (OSError, RuntimeFailure):
        pass

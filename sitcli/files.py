"""Writing files so that nothing half-written is ever seen or left behind.

`atomic_write` writes to a hidden temporary file beside the target (`.NAME.<random>.tmp`),
holding an advisory lock on it while it writes, fsyncs it and renames it over the target. An
exception or Ctrl-C removes the temporary file; a SIGKILL cannot, so every write first
removes the temporary files in its directory that no live writer holds a lock on.

Errors from the environment (read-only filesystem, full disk, no permission) become one
line naming what could not be written where (exit 1), not an internal error.
"""

from __future__ import annotations

import errno
import fcntl
import os
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from sitcli.errors import RuntimeFailure

TMP_SUFFIX = ".tmp"


def environment_error(exc: OSError, action: str, path) -> RuntimeFailure:
    """A one-line RuntimeFailure for an OSError from the disk: what, where and why."""
    reason = exc.strerror or str(exc)
    hint = {errno.ENOSPC: "free some space", errno.EROFS: "the filesystem is read-only; pick "
            "another directory", errno.EACCES: "check the permissions",
            errno.EPERM: "check the permissions", errno.EDQUOT: "free some space"}.get(
        exc.errno, "check the path")
    return RuntimeFailure(f"could not {action} {path}: {reason}; {hint}")


def sweep_stale_temps(directory: Path) -> list[Path]:
    """Remove `.*.tmp` files in `directory` left by writers that died (no lock held on them)."""
    removed = []
    try:
        candidates = [p for p in Path(directory).iterdir()
                      if p.name.startswith(".") and p.name.endswith(TMP_SUFFIX)]
    except OSError:
        return removed
    for path in candidates:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)       # a live writer holds it
            continue
        try:
            path.unlink()
            removed.append(path)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


@contextmanager
def atomic_path(path: Path, mode: int | None = None):
    """Yield a temporary path beside `path`; on success it is fsynced and renamed to `path`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        sweep_stale_temps(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise environment_error(exc, "write", path) from None
    tmp = Path(tmp)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)    # tells sweep_stale_temps that this writer is alive
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, (0o666 & ~umask) if mode is None else mode)   # mkstemp makes it 0600
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise environment_error(exc, "write", path) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)
    fsync_dir(path.parent)


def atomic_write(path: Path, write: Callable[[Path], object]) -> Path:
    """Call `write(tmp)` and rename the result to `path` (see `atomic_path`)."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not possible on every platform, so best effort.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

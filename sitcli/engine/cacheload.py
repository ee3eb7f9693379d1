"""Loading a kernel from numba's cache without preparing to compile.

Before numba loads a cached function it "refreshes" its compiler target: it imports every
lowering registry it has (numpy random, linear algebra, typed containers, ...; the linear
algebra one imports scipy.linalg to find a BLAS) so that it *could* compile anything. A cached
function needs none of that: it is machine code, and what it calls at run time is numba's
C helpers (there from numba's import on) and its memory manager, which `rtsys.initialize`
starts. On a warm cache that refresh was the largest single cost of a `sitcli backtest`
(about 0.5 CPU-s of numba's imports, plus 0.3-0.5 s of scipy's).

`install()` makes a cache load start only the memory manager, and only for machine code that
calls it: a function compiled without reference counting that allocates nothing (the bar
loop, `account_nb`) names none of the manager's `NRT_` functions, and starting the manager
compiles a module of its own (about 20 ms of a backtest). A cache miss still compiles
through numba's own pipeline, which refreshes the target itself (`compile_extra`), so nothing
that compiles sees a difference. The switch uses numba's private `Cache` members
(`_enabled`, `_index_key`, `_cache_file`, `_impl`, `_guard_against_spurious_io_errors`;
numba 0.59-0.68 have them, like `_nrt` in kernel.py): on a numba without them numba's own
loading is left in place, slower and still correct.
"""

from __future__ import annotations

from numba.core import caching

_numba_load_overload = caching.Cache.load_overload


def _load_overload(self, sig, target_context):
    """numba's `Cache.load_overload` with the target's refresh cut to the memory manager,
    started only when the cached machine code calls it."""
    if not self._enabled:
        return None
    with self._guard_against_spurious_io_errors():
        data = self._cache_file.load(self._index_key(sig, target_context.codegen()))
        if data is None:
            return None
        if calls_runtime(data):
            from numba.core.runtime import rtsys

            rtsys.initialize(target_context)
        return self._impl.rebuild(target_context, data)
    return None   # the guard swallowed a spurious I/O error: compile instead


def calls_runtime(payload) -> bool:
    """Does a cached compile result's machine code name one of numba's memory manager's
    functions (`NRT_*`)? True when no object code is found in it, to be safe."""
    objects = list(_object_code(payload))
    return not objects or any(b"NRT_" in code for code in objects)


def _object_code(value):
    if isinstance(value, bytes):
        if value[:4] == b"\x7fELF":
            yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _object_code(item)


def supported() -> bool:
    """Does this numba load its cache the way `_load_overload` copies? Its own `_load_overload`
    (not called here) is where those steps live; the instance members it uses come with it."""
    return all(hasattr(caching.Cache, name) for name in
               ("load_overload", "_load_overload", "_index_key",
                "_guard_against_spurious_io_errors"))


def install() -> None:
    """Switch numba's cache loads to `_load_overload` (idempotent; no-op if unsupported)."""
    if supported():
        caching.Cache.load_overload = _load_overload


def uninstall() -> None:
    """numba's own loading again (tests compare the two)."""
    caching.Cache.load_overload = _numba_load_overload

"""The cyclic garbage collector is off while a command starts (`sitcli.cli.collector_paused`),
back on when it ends or after its pause, in a forked child, and frozen for the exit."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time

import pytest

from sitcli.cli import collector_paused


@pytest.fixture(autouse=True)
def _collector_on():
    assert gc.isenabled()
    yield
    gc.unfreeze()
    gc.enable()


def test_off_inside_and_on_after_with_nothing_left_frozen():
    with collector_paused(seconds=60):
        assert not gc.isenabled()
        garbage = [[] for _ in range(1000)]
        for item in garbage:
            item.append(item)   # cycles: only the collector frees them
        del garbage
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    assert gc.collect() >= 1000   # the cycles made while it was off are still collectable


def test_a_long_command_gets_the_collector_back_with_what_exists_frozen():
    with collector_paused(seconds=0.05):
        deadline = time.monotonic() + 10
        while not gc.isenabled() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0
        cycle = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1   # made after the pause: collected as usual
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_an_error_still_turns_it_back_on():
    with pytest.raises(SystemExit), collector_paused(seconds=60):
        sys.exit(2)
    assert gc.isenabled()


def test_a_caller_that_turned_it_off_keeps_it_off():
    gc.disable()
    with collector_paused(seconds=0.01):
        time.sleep(0.05)
        assert not gc.isenabled()
    assert not gc.isenabled()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_forked_child_starts_with_the_collector_on():
    read, write = os.pipe()
    with collector_paused(seconds=60):
        pid = os.fork()
        if pid == 0:   # the child: report and leave at once
            os.write(write, b"1" if gc.isenabled() else b"0")
            os._exit(0)
        os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"


def test_the_exit_finds_everything_frozen():
    """The command's atexit hook freezes what is left, so the shutdown's collections walk
    nothing; the command's output and exit code are what they were."""
    code = ("import atexit, gc, sys\n"
            "sys.argv = ['sitcli', '--version']\n"
            "code = 0\n"
            "from sitcli.cli import main\n"
            "try:\n"
            "    main()\n"
            "except SystemExit as exc:\n"
            "    code = exc.code\n"
            "before = gc.get_freeze_count()\n"
            "atexit._run_exitfuncs()\n"
            "print(code, gc.isenabled(), before == 0, gc.get_freeze_count() > 1000)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert proc.stdout.split("\n")[0].startswith("sitcli ")
    assert proc.stdout.split("\n")[1] == "0 True True True"

"""The README's and docs/' example runs are real: each `$ sitcli ...` block reproduces its
pasted output, and every link resolves inside the repository."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
PAGES = [README, *sorted((README.parent / "docs").glob("*.md"))]
SITCLI = Path(sys.executable).parent / "sitcli"


def examples():
    """`$ sitcli ...` blocks: a command that runs offline and the output pasted from it. (Runs
    on the user's stored data are shown without the `$` prompt and are not re-run here.)"""
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for block in re.findall(r"```\n(\$ sitcli .*?)```", text, flags=re.S):
            command, _, output = block.partition("\n")
            yield command[2:], output


def test_readme_starts_with_the_two_setup_commands():
    text = README.read_text(encoding="utf-8")
    setup = text[: text.index("## What works today")]
    assert "make demo" in setup and "make test" in setup


@pytest.mark.parametrize("command, expected", list(examples()), ids=lambda v: v[:40])
def test_pasted_output_matches_a_fresh_run(command, expected, tmp_path):
    args = shlex.split(command)
    proc = subprocess.run([str(SITCLI), *args[1:]], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "SITCLI_DATA_DIR": str(tmp_path),
                               "SITCLI_CONFIG": ""},   # never the user's own config file
                          cwd=README.parent, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = "\n".join(line.rstrip() for line in proc.stdout.rstrip().splitlines())
    assert got == expected.rstrip()


def test_makefile_demo_runs_the_readme_backtest():
    makefile = (README.parent / "Makefile").read_text(encoding="utf-8")
    assert "sitcli backtest --demo" in makefile
    assert any(cmd == "sitcli backtest --demo" for cmd, _ in examples())


def test_the_readme_is_a_front_door():
    assert README.stat().st_size <= 20_000
    text = README.read_text(encoding="utf-8")
    assert all(f"docs/{page.name}" in text for page in PAGES[1:] if page.name != "README.md")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_resolve_inside_the_repository(page):
    root = README.parent.resolve()
    text = page.read_text(encoding="utf-8")
    assert "../shared" not in text, "users have no ../shared"
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if target.startswith(("http://", "https://")):
            continue
        path = (page.parent / target).resolve()
        assert path.exists() and root in path.parents, f"{page.name}: {target}"

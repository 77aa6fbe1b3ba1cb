"""The README stays true: its settings table, its set-up commands, the commands, tests and files it names.

The settings table is written from ``Settings.describe()``. When a setting changes, regenerate it with

    QA_REGENERATE_README=1 .venv/bin/python -m pytest tests/test_readme.py

which rewrites the table between the README's ``settings`` markers (and then passes).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from qa_service.cli import main
from qa_service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START, END = "<!-- settings: start -->", "<!-- settings: end -->"
SETUP_COMMANDS = {"run", "test"}


def settings_table() -> str:
    """The README's settings table, one row per setting of ``Settings.describe()``."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for env, default, meaning in Settings.describe():
        shown = f"`{default}`" if default else "(empty)"
        meaning = meaning.replace("|", "\\|")
        rows.append(f"| `{env}` | {shown} | {meaning} |")
    return "\n".join(rows)


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def test_settings_table_is_written_from_the_settings():
    text = _readme()
    assert text.count(START) == 1 and text.count(END) == 1, f"README.md needs one {START} ... {END} pair"
    head, rest = text.split(START)
    current, tail = rest.split(END)
    wanted = settings_table()
    if os.environ.get("QA_REGENERATE_README") == "1":
        README.write_text(f"{head}{START}\n{wanted}\n{END}{tail}", encoding="utf-8")
        return
    assert current.strip() == wanted, (
        "README.md's settings table differs from Settings.describe(); rewrite it with "
        "`QA_REGENERATE_README=1 .venv/bin/python -m pytest tests/test_readme.py`, or paste this:\n\n" + wanted
    )


def test_setup_is_exactly_make_run_and_make_test():
    targets = set(re.findall(r"\bmake (\w[\w-]*)", _readme()))
    assert targets == SETUP_COMMANDS, f"the README should set up with `make run` and `make test` only, found {targets}"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in SETUP_COMMANDS:
        assert re.search(rf"^{target}:", makefile, re.M), f"the Makefile has no `{target}` target"


def test_every_command_the_readme_names_exists_and_every_command_is_named():
    named = set(re.findall(r"\bqa-service ([a-z][a-z-]*)", _readme()))
    commands = set(main.commands)
    assert named <= commands, f"the README names commands the CLI does not have: {sorted(named - commands)}"
    assert commands <= named, f"the README does not mention: {sorted(commands - named)}"


def test_every_test_the_readme_cites_exists():
    cited = set(re.findall(r"tests/(test_\w+\.py)::(test_\w+)", _readme()))
    assert cited, "the guarantees should each cite the test that checks them"
    missing = []
    for file, name in sorted(cited):
        path = ROOT / "tests" / file
        if not path.is_file() or not re.search(rf"^\s*def {name}\(", path.read_text(encoding="utf-8"), re.M):
            missing.append(f"tests/{file}::{name}")
    assert not missing, f"the README cites tests that do not exist: {missing}"


def test_relative_links_point_at_files():
    for doc in (README, ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").glob("*.md"))):
        for target in re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8")):
            assert (doc.parent / target).exists(), f"{doc.name} links to {target}, which does not exist"

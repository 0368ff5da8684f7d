"""Piped output loses nothing: what a script or ``grep`` reads is every value, whole.

Rich fits tables to 80 columns when stdout is not a terminal: ``charter history
fraud_detector | cat`` printed "Production → Archiv…" and dropped the reason column.
These tests run the real ``charter`` entry point through a shell pipe, with no
COLUMNS set (as a script's environment has it), and check every listing's rows and
its ``--json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import typer.main

from charter.cli.main import app

NAME = "fraud_detector"
REASON = ("the October holdout showed a recall regression of 4.2 points on card-not-present "
          "transactions from new merchants; rolling back until the retrain lands")
ACTOR = "release-pipeline-for-the-payments-risk-team@ci.example.internal"
DESCRIPTION = "Card fraud, binary. " * 12


def pipe(home: Path, *args: str) -> str:
    """``charter ARGS | cat`` in a shell, as a script would run it."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CHARTER_") and k not in ("COLUMNS", "LINES")}
    env.update(CHARTER_HOME=str(home), CHARTER_ACTOR=ACTOR)
    command = " ".join([sys.executable, "-m", "charter.cli.main",
                        *(f"'{a}'" for a in args)]) + " | cat"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def home(tmp_path_factory, model_folder) -> Path:
    home = tmp_path_factory.mktemp("piped") / "home"
    folder = model_folder(home.parent / "model")
    pipe(home, "register", NAME, str(folder), "--description", DESCRIPTION)
    pipe(home, "register", NAME, str(folder))
    for version, stage in ((1, "Staging"), (1, "Production"), (2, "Staging"),
                           (2, "Production")):
        pipe(home, "promote", NAME, str(version), "--to", stage, "--reason", REASON,
             *(["--archive-existing"] if version == 2 and stage == "Production" else []))
    pipe(home, "tag", NAME, "owner=payments-risk-team-with-a-long-name@example.internal")
    return home


def test_history_in_a_pipe_is_tab_separated_rows_with_every_value_whole(home):
    lines = pipe(home, "history", NAME).splitlines()
    assert lines[0].split("\t") == ["seq", "time (UTC)", "actor", "action", "version",
                                    "from → to", "reason"]
    rows = [line.split("\t") for line in lines[1:]]
    assert all(len(row) == 7 for row in rows), lines
    archived = [row for row in rows if row[5] == "Production → Archived"]
    assert archived and archived[0][6] == REASON and archived[0][2] == ACTOR


def test_a_record_in_a_pipe_keeps_long_values_on_one_line(home):
    shown = pipe(home, "show", f"{NAME}/1")
    description = next(line for line in shown.splitlines() if line.startswith("description"))
    assert description.split(None, 1)[1] == DESCRIPTION
    files = shown.splitlines()[shown.splitlines().index("files") + 2:]
    assert all(len(line.split("\t")[2]) == 64 for line in files)  # the whole sha256
    model = pipe(home, "show", NAME)
    assert "owner=payments-risk-team-with-a-long-name@example.internal" in model


def test_a_value_with_tabs_or_line_breaks_stays_on_its_row(home):
    pipe(home, "tag", NAME, "note=two\tcolumns\nand two lines")
    pipe(home, "describe", f"{NAME}/1", "again\tand\nagain")
    rows = [line.split("\t") for line in pipe(home, "history", NAME).splitlines()[1:]]
    assert all(len(row) == 7 for row in rows)


# Every command that lists or shows records, and its arguments here.
LISTINGS = {
    "ls": [], "show": [NAME], "history": [NAME], "lint": [NAME], "resolve":
    [f"models:/{NAME}/Production"], "grants": [NAME], "approvals": [NAME], "check": [NAME,
    "2", "--to", "Archived"], "retention": [], "audit verify": [], "user list": [],
    "token list": [], "webhook list": [], "webhook deliveries": [], "gc": [],
}


@pytest.mark.parametrize("command", LISTINGS)
def test_every_listing_prints_json_that_parses(home, command):
    answer = json.loads(pipe(home, *command.split(), *LISTINGS[command], "--json"))
    assert answer is not None


def test_every_command_that_lists_has_a_json_option():
    """A new listing command cannot ship without --json: scripts rely on it."""
    root = typer.main.get_command(app)
    missing = []
    for name, command in _commands(root):
        if name in LISTINGS and not any("--json" in p.opts for p in command.params):
            missing.append(name)
    assert set(LISTINGS) <= {name for name, _ in _commands(root)}
    assert missing == []


def _commands(group, prefix=""):  # type: ignore[no-untyped-def]
    # Through list_commands/get_command: the root group imports a command on lookup.
    ctx = typer.Context(group)
    for name in getattr(group, "list_commands", lambda ctx: [])(ctx):
        command = group.get_command(ctx, name)
        full = f"{prefix}{name}"
        if getattr(command, "commands", None):
            yield from _commands(command, full + " ")
        else:
            yield full, command

"""Fixtures for the CLI tests: the real entry point in a subprocess, and Typer's
in-process runner for breadth. Both use a registry under a fresh temp folder."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from charter.cli.main import app

Run = Callable[..., subprocess.CompletedProcess[str]]
Invoke = Callable[..., Result]

# Wide, colourless and with a fixed actor, so output is stable to assert on.
STABLE_ENV = {"COLUMNS": "200", "NO_COLOR": "1", "CHARTER_ACTOR": "ci-bot"}


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARTER_")}
    return {**env, **STABLE_ENV, "CHARTER_HOME": str(home)}


def make_runner(home: Path) -> Run:
    env = clean_env(home)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "charter.cli.main", *args],
                              env=env, capture_output=True, text=True, timeout=120)

    return run


def write_model_folder(root: Path) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "model.pkl").write_bytes(bytes(range(256)) * 40)
    (root / "MLmodel").write_text("flavors:\n  sklearn: {}\n")
    (root / "data" / "conf.json").write_text('{"threshold": 0.7}')
    return root


@pytest.fixture(scope="session")
def runner_for() -> Callable[[Path], Run]:
    """Makes a function that runs the real entry point against a given home."""
    return make_runner


@pytest.fixture(scope="session")
def model_folder() -> Callable[[Path], Path]:
    """Makes a folder of model files (a pickle, an MLmodel, a nested config)."""
    return write_model_folder


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return write_model_folder(tmp_path / "model")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def cli(home: Path, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Run the Typer app in-process against ``home`` (passed with --home)."""
    for key in [k for k in os.environ if k.startswith("CHARTER_")]:
        monkeypatch.delenv(key)
    runner = CliRunner()

    def invoke(*args: str, catch_exceptions: bool = True) -> Result:
        return runner.invoke(app, ["--home", str(home), *args], env=STABLE_ENV,
                             catch_exceptions=catch_exceptions)

    return invoke

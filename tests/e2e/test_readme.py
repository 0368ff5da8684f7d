"""The README's CLI session is run as written, and its output must match it.

Docs that cannot drift: every ``$ command`` in the README's console block runs
through the real ``charter`` entry point in a fresh home, in order.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def console_steps() -> list[tuple[str, list[str]]]:
    block = re.search(r"```console\n(.*?)```", README.read_text(), re.S)
    assert block, "the README has a console session"
    steps: list[tuple[str, list[str]]] = []
    for line in block.group(1).splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    return steps


def test_readme_cli_session_runs_as_written(tmp_path):
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "CHARTER_HOME": str(tmp_path / "home"), "COLUMNS": "200",
           "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "NO_COLOR": "1"}
    for command, expected in console_steps():
        result = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=60)
        output = (result.stdout + result.stderr).replace(str(tmp_path), ".")
        shown = [line.rstrip() for line in output.splitlines()]
        assert shown == expected, f"$ {command}"

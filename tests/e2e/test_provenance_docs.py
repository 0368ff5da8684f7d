"""docs/provenance.md's worked example runs as pasted: from signing a model folder to a
gated promotion, a verified checkpoint and a proved past answer."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "provenance.md"


def test_the_worked_example_runs_as_pasted(tmp_path: Path) -> None:
    section = DOC.read_text().split("## A worked example", 1)[1]
    script = re.search(r"```sh\n(.*?)```", section, re.S)
    assert script is not None
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
           "TMPDIR": str(tmp_path), "COLUMNS": "200", "NO_COLOR": "1"}
    env = {k: v for k, v in env.items() if not k.startswith("CHARTER_")}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script.group(1)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "Registered fraud_detector v1" in out and "signed by key:sha256:" in out
    assert re.search(r"pass\s+check:eval.auc >= 0.9\s+eval.auc is 0.93", out)
    assert "fraud_detector v1: Staging → Production" in out
    assert "OK: audit chain intact" in out and "signed checkpoint" in out
    assert re.search(r"models:/fraud_detector/Production at \S+ was v1", out)
    assert "proved:" in out

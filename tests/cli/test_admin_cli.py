"""Admin-only commands run on the registry's machine, where the CLI opens the database
itself and acts as its local admin: `charter gc` (the service refuses anyone else)."""

from __future__ import annotations

import json


def test_gc_runs_as_the_local_admin_of_an_embedded_registry(cli, model_dir):
    steps = [("register", "fraud_detector", str(model_dir)),
             ("promote", "fraud_detector", "1", "--to", "Staging", "--reason", "validate"),
             ("archive", "fraud_detector", "1", "--reason", "superseded"),
             ("delete", "fraud_detector", "1", "--reason", "trained on leaked labels")]
    for step in steps:
        result = cli(*step)
        assert result.exit_code == 0, result.stderr
    dry = cli("gc", "--older-than", "0", "--json")
    assert dry.exit_code == 0, dry.stderr
    assert len(json.loads(dry.stdout)["blobs"]) == 3
    applied = cli("gc", "--apply", "--older-than", "0", "--json")
    assert applied.exit_code == 0, applied.stderr
    report = json.loads(applied.stdout)
    assert report["applied"] and len(report["blobs"]) == 3
    assert json.loads(cli("gc", "--older-than", "0", "--json").stdout)["blobs"] == []

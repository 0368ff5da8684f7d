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


def test_key_create_writes_a_private_key_and_its_public_half_and_never_overwrites(
        tmp_path, runner_for):
    import stat

    from charter.signing.keys import load_key, trusted_key_id

    run = runner_for(tmp_path / "home")
    created = run("key", "create", "--json")
    assert created.returncode == 0, created.stderr
    answer = json.loads(created.stdout)
    key_path = tmp_path / "home" / "checkpoint.key"
    assert answer["path"] == str(key_path)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert load_key(key_path).key_id == answer["key_id"]
    assert trusted_key_id((tmp_path / "home" / "checkpoint.key.pub").read_text()) \
        == answer["key_id"]
    again = run("key", "create")
    assert again.returncode == 3 and "key.exists" in again.stderr
    assert load_key(key_path).key_id == answer["key_id"]

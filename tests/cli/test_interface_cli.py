"""charter register --interface / an MLmodel in the folder, charter interface, charter diff,
and a breaking promotion refused with the diff, then accepted with --accept-breaking."""

from __future__ import annotations

import json
from pathlib import Path

NAME = "fraud_detector"
V1 = {"inputs": [{"name": "amount", "type": "double"}, {"name": "country", "type": "string"}],
      "outputs": [{"name": "score", "type": "double"}]}
MLMODEL = """\
flavors: {}
signature:
  inputs: '[{"type": "double", "name": "amount"}]'
  outputs: '[{"type": "double", "name": "score"}, {"type": "string", "name": "reason"}]'
"""


def live_v1_and_staged_v2(cli, tmp_path: Path) -> None:
    (tmp_path / "v1.json").write_text(json.dumps(V1))
    folder = tmp_path / "v2"
    folder.mkdir()
    (folder / "MLmodel").write_text(MLMODEL)
    (folder / "model.pkl").write_bytes(b"weights")
    assert cli("register", NAME, "s3://models/fraud/1", "--interface",
               str(tmp_path / "v1.json")).exit_code == 0
    assert cli("register", NAME, str(folder), "--tag", "team=risk").exit_code == 0
    for version, stage in (("1", "Staging"), ("1", "Production"), ("2", "Staging")):
        assert cli("promote", NAME, version, "--to", stage, "--reason", "r").exit_code == 0


def test_interface_shows_what_a_version_declares(cli, tmp_path):
    live_v1_and_staged_v2(cli, tmp_path)
    shown = cli("interface", NAME, "2")
    assert shown.exit_code == 0
    assert "(from mlmodel)" in shown.stdout and "reason" in shown.stdout
    declared = json.loads(cli("interface", NAME, "1", "--json").stdout)
    assert declared["origin"] == "explicit"
    assert [s["name"] for s in declared["interface"]["inputs"]] == ["amount", "country"]


def test_diff_prints_the_interface_files_and_tags(cli, tmp_path):
    live_v1_and_staged_v2(cli, tmp_path)
    result = cli("diff", NAME, "1", "2")
    assert result.exit_code == 0, result.stderr
    assert "interface: BREAKING with v1" in result.stdout
    assert "! input country removed: was string (breaking)" in result.stdout
    assert "output reason added: string (compatible)" in result.stdout
    assert "files: 2 added, 0 removed" in result.stdout and "+ team risk" in result.stdout
    data = json.loads(cli("diff", NAME, "1", "2", "--json").stdout)
    assert data["interface"]["compatible"] is False and set(data["files"]["added"]) == {
        "MLmodel", "model.pkl"}


def test_a_breaking_promotion_exits_5_with_the_diff_until_accepted(cli, tmp_path):
    live_v1_and_staged_v2(cli, tmp_path)
    refused = cli("promote", NAME, "2", "--to", "Production", "--reason", "ship",
                  "--archive-existing")
    assert refused.exit_code == 5
    assert "[gate.interface_breaking]" in refused.stderr
    assert "! input country removed" in refused.stdout
    accepted = cli("promote", NAME, "2", "--to", "Production", "--reason", "ship",
                   "--archive-existing", "--accept-breaking", "country is no longer sent")
    assert accepted.exit_code == 0, accepted.stderr
    history = json.loads(cli("history", NAME, "--json").stdout)
    (event,) = [e for e in history if e["action"] == "interface_break_accepted"]
    assert event["reason"] == "country is no longer sent"
    assert event["payload"]["diff"]["changes"][0]["name"] == "country"


def test_a_malformed_interface_file_is_refused(cli, tmp_path):
    (tmp_path / "bad.json").write_text('{"inputs": [{"name": "x", "type": "decimal"}]}')
    result = cli("register", NAME, "s3://models/fraud/1", "--interface",
                 str(tmp_path / "bad.json"))
    assert result.exit_code != 0 and "[interface.invalid]" in result.stderr

"""The `charter` command line.

The main flows run through the real entry point (``python -m charter.cli.main``
in a subprocess, one shared story so the count stays modest); the breadth of
options and error paths runs in-process through Typer's runner.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

import charter
from charter.cli.errors import exit_code
from charter.cli.main import app
from charter.domain import errors

# --- the main flows, through the real entry point ----------------------------------------

Story = dict[str, subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def story(tmp_path_factory, runner_for, model_folder) -> tuple[Story, Path]:
    """One registry's life: register, promote, collide, roll back, resolve, pull, audit."""
    root = tmp_path_factory.mktemp("story")
    model = model_folder(root / "model")
    run = runner_for(root / "home")
    steps = [
        ("register_folder", "register", "fraud_detector", str(model), "--tag", "team=risk"),
        ("register_runs", "register", "fraud_detector", "runs:/abc123/model",
         "--run-id", "abc123"),
        ("stage_v1", "promote", "fraud_detector", "1", "--to", "staging", "--reason", "validated"),
        ("prod_v1", "promote", "fraud_detector", "1", "--to", "Production", "--reason", "launch"),
        ("stage_v2", "transition", "fraud_detector", "v2", "--to", "Staging", "--reason", "cand"),
        ("prod_v2_refused", "promote", "fraud_detector", "2", "--to", "Production",
         "--reason", "beat v1 on AUC"),
        ("prod_v2", "promote", "fraud_detector", "2", "--to", "Production",
         "--reason", "beat v1 on AUC", "--archive-existing"),
        ("ls", "ls"),
        ("show_json", "show", "fraud_detector", "--json"),
        ("rollback", "rollback", "fraud_detector", "--reason", "v2 raised false positives"),
        ("history", "history", "fraud_detector"),
        ("resolve", "resolve", "models:/fraud_detector/Production"),
        ("pull", "pull", "models:/fraud_detector/Production", str(root / "pulled")),
        ("lint", "lint", "fraud_detector_v2"),
        ("register_bad_name", "register", "fraud_detector_v2", str(model)),
        ("delete_without_reason", "delete", "fraud_detector", "1"),
        ("audit", "audit", "verify"),
    ]
    return {name: run(*args) for name, *args in steps}, root


def test_register_from_folder_then_from_runs_source_numbers_v1_then_v2(story):
    steps, _ = story
    assert steps["register_folder"].returncode == 0, steps["register_folder"].stderr
    assert "fraud_detector v1" in steps["register_folder"].stdout
    assert "models:/fraud_detector/1" in steps["register_folder"].stdout
    assert steps["register_runs"].returncode == 0, steps["register_runs"].stderr
    assert "fraud_detector v2" in steps["register_runs"].stdout


def test_promote_moves_through_staging_to_production(story):
    steps, _ = story
    for step in ("stage_v1", "prod_v1", "stage_v2"):
        assert steps[step].returncode == 0, steps[step].stderr
    assert "v1: None → Staging" in steps["stage_v1"].stdout
    assert "v1: Staging → Production" in steps["prod_v1"].stdout


def test_second_production_without_archive_existing_is_refused_with_exit_5_and_a_hint(story):
    refused = story[0]["prod_v2_refused"]
    assert refused.returncode == 5
    assert refused.stdout == ""
    lines = refused.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and lines[0].endswith("[stage.production_taken]")
    assert lines[1].startswith("hint: ") and "--archive-existing" in lines[1]


def test_archive_existing_archives_the_old_production_version_in_the_same_step(story):
    promoted = story[0]["prod_v2"]
    assert promoted.returncode == 0, promoted.stderr
    assert "v1: Production → Archived" in promoted.stdout
    assert "v2: Staging → Production" in promoted.stdout


def test_ls_prints_the_seed_tree_newest_first(story):
    listing = story[0]["ls"]
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.splitlines() == [
        "fraud_detector (2 versions)", "├─ v2: Production", "└─ v1: Archived"]


def test_show_json_is_the_model_record(story):
    shown = story[0]["show_json"]
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["name"] == "fraud_detector"
    assert data["stages"] == {"Production": [2], "Archived": [1]}


def test_rollback_prints_both_moves(story):
    rolled = story[0]["rollback"]
    assert rolled.returncode == 0, rolled.stderr
    assert "v2: Production → Staging" in rolled.stdout
    assert "v1: Archived → Production" in rolled.stdout


def test_history_lists_transitions_with_actor_and_reasons(story):
    history = story[0]["history"]
    assert history.returncode == 0, history.stderr
    lines = history.stdout.splitlines()
    assert any("stage_changed" in line and "Staging → Production" in line and "launch" in line
               for line in lines)
    assert any("rolled_back" in line and "v2 raised false positives" in line for line in lines)
    assert "ci-bot" in history.stdout


def test_resolve_production_names_the_version_its_artifact_and_digest(story):
    resolved = story[0]["resolve"]
    assert resolved.returncode == 0, resolved.stderr
    assert "fraud_detector v1 (Production)" in resolved.stdout
    assert "charter:/models/fraud_detector/versions/1/files" in resolved.stdout
    assert "digest" in resolved.stdout


def test_pull_writes_the_same_bytes_into_dest(story):
    steps, root = story
    assert steps["pull"].returncode == 0, steps["pull"].stderr
    assert "sha256 verified" in steps["pull"].stdout
    for file in ("model.pkl", "MLmodel", "data/conf.json"):
        assert (root / "pulled" / file).read_bytes() == (root / "model" / file).read_bytes()


def test_lint_of_a_versioned_name_exits_nonzero_and_names_the_rule(story):
    linted = story[0]["lint"]
    assert linted.returncode == 1
    assert "name.version_marker" in linted.stdout


def test_register_with_a_bad_name_is_refused_with_exit_3_and_nothing_is_registered(story):
    steps, root = story
    refused = steps["register_bad_name"]
    assert refused.returncode == 3
    assert "[name." in refused.stderr and "hint: " in refused.stderr
    registry = charter.connect(root / "home")
    assert [m.name for m in registry.list_models().items] == ["fraud_detector"]


def test_delete_requires_a_reason(story):
    refused = story[0]["delete_without_reason"]
    assert refused.returncode == 2
    assert "--reason" in refused.stderr


def test_audit_verify_reports_an_intact_chain(story):
    audit = story[0]["audit"]
    assert audit.returncode == 0, audit.stderr
    assert audit.stdout.startswith("OK")


# --- breadth, in-process ---------------------------------------------------------------


def register_versions(cli, count: int, name: str = "fraud_detector") -> None:
    for index in range(count):
        result = cli("register", name, f"runs:/run{index}/model", "--run-id", f"run{index}")
        assert result.exit_code == 0, result.output


def test_ls_caps_long_version_lists_unless_all(cli):
    register_versions(cli, 12)
    capped = cli("ls").stdout.splitlines()
    assert capped[0] == "fraud_detector (12 versions)"
    assert capped[1] == "├─ v12: None" and capped[-1] == "└─ … 2 more"
    full = cli("ls", "--all").stdout.splitlines()
    assert len(full) == 13 and full[-1] == "└─ v1: None"


def test_ls_on_an_empty_registry_says_how_to_start(cli):
    assert "charter register" in cli("ls").stdout
    assert json.loads(cli("ls", "--json").stdout) == []


def test_ls_pages_with_limit_and_page_token_and_filters_by_tag_and_stage(cli):
    for index in range(7):
        name = f"p{index}_fraud_scorer"
        created = cli("register", name, f"runs:/run{index}/model")
        assert created.exit_code == 0, created.output
        assert cli("tag", name, f"team=t{index % 2}").exit_code == 0
        if index % 3 == 0:
            assert cli("promote", name, "1", "--to", "Staging", "--reason", "ok").exit_code == 0
    heads = [f"p{i}_fraud_scorer (1 version)" for i in range(7)]
    first = cli("ls", "--limit", "3")
    shown = [line for line in first.stdout.splitlines() if line.startswith("p")]
    assert shown == heads[:3]
    hint = first.stderr.strip().splitlines()[-1]
    assert hint.startswith("more: charter ls --page-token ")
    token = hint.rsplit(" ", 1)[1]
    rest = cli("ls", "--page-token", token)
    assert [line for line in rest.stdout.splitlines() if line.startswith("p")] == heads[3:]
    assert "more:" not in rest.stderr
    tagged = cli("ls", "--tag", "team=t0", "--stage", "staging", "--json")
    assert [m["name"] for m in json.loads(tagged.stdout)] == ["p0_fraud_scorer",
                                                              "p6_fraud_scorer"]
    everything = json.loads(cli("ls", "--json").stdout)
    assert [m["name"] for m in everything] == [h.split()[0] for h in heads]
    assert "No models match." in cli("ls", "--tag", "team=nobody").stdout
    refused = cli("ls", "--tag", "=x")
    assert refused.exit_code != 0 and "is not a tag filter" in refused.output


def test_tags_aliases_and_descriptions_show_on_model_and_version(cli, model_dir):
    assert cli("register", "fraud_detector", str(model_dir)).exit_code == 0
    for args in (("tag", "fraud_detector", "team=risk", "owner=ana"),
                 ("tag", "fraud_detector/1", "algorithm=xgboost"),
                 ("alias", "fraud_detector", "champion", "v1"),
                 ("describe", "fraud_detector", "Scores card payments"),
                 ("describe", "fraud_detector/1", "First model")):
        result = cli(*args)
        assert result.exit_code == 0, result.output
    model = cli("show", "fraud_detector").stdout
    assert "owner=ana, team=risk" in model and "@champion → v1" in model
    assert "Scores card payments" in model and "└─ v1: None @champion" in model
    version = json.loads(cli("show", "fraud_detector/1", "--json").stdout)
    assert version["tags"] == {"algorithm": "xgboost"} and version["aliases"] == ["champion"]
    assert version["description"] == "First model"
    assert sorted(f["path"] for f in version["files"]) == ["MLmodel", "data/conf.json",
                                                           "model.pkl"]
    assert "model.pkl" in cli("show", "fraud_detector/1").stdout


def test_tag_delete_and_alias_delete_remove_them(cli):
    register_versions(cli, 1)
    cli("tag", "fraud_detector", "team=risk")
    cli("alias", "fraud_detector", "champion", "1")
    assert cli("tag", "fraud_detector", "--delete", "team").exit_code == 0
    assert cli("alias", "fraud_detector", "champion", "--delete").exit_code == 0
    model = json.loads(cli("show", "fraud_detector", "--json").stdout)
    assert model["tags"] == {} and model["aliases"] == {}
    missing = cli("tag", "fraud_detector", "--delete", "team")
    assert missing.exit_code == 4 and "[tag.not_found]" in missing.stderr


def test_resolve_an_alias_and_a_renamed_model_with_a_warning(cli):
    register_versions(cli, 2, "fraud_model")
    cli("alias", "fraud_model", "champion", "2")
    assert cli("rename", "fraud_model", "fraud_detector", "--reason", "name it").exit_code == 0
    resolved = cli("resolve", "models:/fraud_model@champion")
    assert resolved.exit_code == 0, resolved.output
    assert "fraud_detector v2" in resolved.stdout
    assert "warning: " in resolved.stderr and "models:/fraud_detector@champion" in resolved.stderr


def test_resolve_as_of_answers_from_the_past(cli):
    register_versions(cli, 1)
    cli("promote", "fraud_detector", "1", "--to", "Staging", "--reason", "ok")
    past = cli("resolve", "models:/fraud_detector/Staging", "--as-of", "2000-01-01T00:00:00Z")
    assert past.exit_code == 4 and "[stage.empty]" in past.stderr
    now = cli("resolve", "models:/fraud_detector/Staging", "--as-of", "2999-01-01", "--json")
    assert json.loads(now.stdout)["version"]["version"] == 1
    assert cli("resolve", "models:/fraud_detector/Staging", "--as-of", "yesterday"
               ).exit_code == 2


def test_expect_production_refuses_when_production_moved_on(cli):
    register_versions(cli, 2)
    for version in ("1", "2"):
        cli("promote", "fraud_detector", version, "--to", "Staging", "--reason", "ok")
    refused = cli("promote", "fraud_detector", "2", "--to", "Production", "--reason", "go",
                  "--expect-production", "1")
    assert refused.exit_code == 5 and "[stage.precondition_failed]" in refused.stderr
    accepted = cli("promote", "fraud_detector", "2", "--to", "Production", "--reason", "go",
                   "--expect-production", "none")
    assert accepted.exit_code == 0, accepted.output


def test_illegal_transition_names_the_allowed_moves(cli):
    register_versions(cli, 1)
    refused = cli("promote", "fraud_detector", "1", "--to", "Production", "--reason", "skip")
    assert refused.exit_code == 5
    assert "[stage.illegal_transition]" in refused.stderr and "Staging" in refused.stderr


def test_archive_then_delete_version_then_model(cli):
    register_versions(cli, 2)
    cli("promote", "fraud_detector", "1", "--to", "Staging", "--reason", "ok")
    archived = cli("archive", "fraud_detector", "1", "--reason", "rejected")
    assert archived.exit_code == 0 and "v1: Staging → Archived" in archived.stdout
    assert cli("delete", "fraud_detector", "1", "--reason", "bad labels").exit_code == 0
    assert cli("delete", "fraud_detector", "--reason", "retired").exit_code == 0
    gone = cli("show", "fraud_detector")
    assert gone.exit_code == 4 and gone.stderr.startswith("error: ")


def test_history_of_one_version_as_json(cli):
    register_versions(cli, 2)
    cli("promote", "fraud_detector", "2", "--to", "Staging", "--reason", "candidate")
    events = json.loads(cli("history", "fraud_detector", "--version", "v2", "--json").stdout)
    assert [e["action"] for e in events] == ["version_registered", "stage_changed"]
    assert events[-1]["reason"] == "candidate"


def test_lint_of_good_names_exits_zero_and_json_lists_findings(cli):
    assert cli("lint", "fraud_detection_binary", "payments_risk_model").exit_code == 0
    result = cli("lint", "fraud_detector_v2", "payments_risk_model", "--json")
    assert result.exit_code == 1
    findings = json.loads(result.stdout)
    assert findings["payments_risk_model"] == []
    assert findings["fraud_detector_v2"][0]["code"] == "name.version_marker"


def test_pull_of_a_source_only_version_explains_where_the_bytes_are(cli, tmp_path):
    register_versions(cli, 1)
    refused = cli("pull", "models:/fraud_detector/1", str(tmp_path / "out"))
    assert refused.exit_code == 3
    assert "[version.no_files]" in refused.stderr and "runs:/run0/model" in refused.stderr


def test_pull_into_a_path_under_a_file_is_one_error_line(cli, model_dir, tmp_path):
    cli("register", "fraud_detector", str(model_dir))
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    refused = cli("pull", "models:/fraud_detector/1", str(blocker / "out"))
    assert refused.exit_code == 1 and refused.stderr.startswith("error: ")


def test_audit_verify_names_the_first_altered_event(cli, home):
    register_versions(cli, 2)
    with sqlite3.connect(home / "charter.db") as db:  # an attacker with database access
        db.execute("DROP TRIGGER IF EXISTS events_no_update")
        db.execute("UPDATE events SET reason = 'nothing to see' WHERE seq = 2")
    broken = cli("audit", "verify")
    assert broken.exit_code == 7
    assert "event #2" in broken.stderr and "[audit.chain_broken]" in broken.stderr
    report = json.loads(cli("audit", "verify", "--json").stdout)
    assert report["ok"] is False and report["first_bad_seq"] == 2


def test_audit_verify_full_catches_an_old_event_a_plain_verify_trusts(cli, home):
    register_versions(cli, 2)
    assert cli("audit", "verify").exit_code == 0   # remembers the point it proved
    register_versions(cli, 1)
    with sqlite3.connect(home / "charter.db") as db:  # rewrite inside the proved prefix
        db.execute("DROP TRIGGER IF EXISTS events_no_update")
        db.execute("UPDATE events SET reason = 'nothing to see' WHERE seq = 2")
    plain = cli("audit", "verify")
    assert plain.exit_code == 0 and "--full rechecks all" in plain.stdout
    full = cli("audit", "verify", "--full")
    assert full.exit_code == 7 and "event #2" in full.stderr


def test_db_upgrade_is_idempotent(cli, home):
    for _ in range(2):
        result = cli("db", "upgrade")
        assert result.exit_code == 0, result.output
        assert "latest schema" in result.stdout
    assert (home / "charter.db").is_file()


def test_registry_option_accepts_a_folder(home, tmp_path, monkeypatch):
    monkeypatch.setenv("CHARTER_HOME", str(home))
    other = tmp_path / "other"
    result = CliRunner().invoke(
        app, ["--registry", str(other), "register", "fraud_detector", "runs:/r1/model"])
    assert result.exit_code == 0, result.output
    assert (other / "charter.db").is_file() and not home.exists()


def test_traceback_flag_reraises_the_error(cli):
    result = cli("--traceback", "show", "missing_model")
    assert isinstance(result.exception, errors.NotFound)


def test_malformed_notations_are_usage_errors(cli):
    assert cli("tag", "fraud_detector", "novalue").exit_code == 2
    assert cli("tag", "fraud_detector").exit_code == 2
    assert cli("alias", "fraud_detector", "champion").exit_code == 2
    assert cli("show", "fraud_detector/").exit_code == 2
    assert cli("history", "fraud_detector", "--version", "three").exit_code == 2


@pytest.mark.parametrize("error_class,code", [
    (errors.InvalidInput, 3), (errors.NotFound, 4), (errors.AlreadyExists, 5),
    (errors.Conflict, 5), (errors.Unauthenticated, 6), (errors.PermissionDenied, 6),
    (errors.IntegrityFailure, 7), (errors.StorageFull, 8), (errors.CharterError, 1)])
def test_exit_code_follows_the_error_kind(error_class, code):
    assert exit_code(error_class("x.y", "message")) == code


def all_command_paths() -> list[list[str]]:
    import typer
    import typer.main

    root = typer.main.get_command(app)
    ctx = typer.Context(root)
    paths = []
    for name in root.list_commands(ctx):  # type: ignore[attr-defined]
        command = root.get_command(ctx, name)  # type: ignore[attr-defined]
        subcommands = getattr(command, "commands", None)
        paths += [[name, sub] for sub in subcommands] if subcommands else [[name]]
    return paths


@pytest.mark.parametrize("path", all_command_paths(), ids=" ".join)
def test_every_command_help_has_a_summary_and_an_example(cli, path):
    result = cli(*path, "--help")
    assert result.exit_code == 0
    assert "Example: charter " in result.stdout


def test_every_command_is_documented_with_an_example():
    docs = (Path(__file__).parents[2] / "docs" / "cli.md").read_text()
    for path in all_command_paths():
        assert f"charter {' '.join(path)}" in docs, path

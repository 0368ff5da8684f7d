"""``charter backup`` / ``charter restore``: an online copy taken while a writer keeps
writing restores every change acknowledged before it began; a copy that does not verify,
or a registry that holds events, is refused (docs/operations.md#backups)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

from tests.cli.conftest import STABLE_ENV
from typer.testing import CliRunner, Result

from charter.artifacts.local import LocalBlobStore
from charter.bootstrap import build_service
from charter.cli.main import app
from charter.config import Settings
from charter.domain.lifecycle import Stage

NAME = "fraud_detector"


def charter(home: Path, *args: str) -> Result:
    """The CLI in-process (the write-load test runs the real entry point instead)."""
    return CliRunner().invoke(app, ["--home", str(home), *args], env=STABLE_ENV)


def service_at(home: Path, actor: str = "test"):  # type: ignore[no-untyped-def]
    return build_service(Settings.load({"home": home}, env={}), actor=actor)


class Writer(threading.Thread):
    """Changes the registry as fast as it can, on its own connections, and notes each
    change once the registry has acknowledged it (the call returned)."""

    def __init__(self, home: Path, files: Path) -> None:
        super().__init__(daemon=True)
        self.home, self.files = home, files
        self.acknowledged: list[tuple[str, str, str]] = []  # (what, key, value)
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        service = service_at(self.home, "writer")
        try:
            number = 0
            while not self.stop.is_set() and number < 5000:
                number += 1
                if number % 5 == 0:  # a version with a file of its own: a new blob
                    weights = self.files / f"weights-{number}.bin"
                    weights.write_bytes(f"weights {number}".encode() * 500)
                    version = service.register(NAME, path=weights)
                    self.acknowledged.append(("version", str(version.version),
                                              version.files[0].sha256))
                else:
                    service.set_model_tag(NAME, f"k{number}", str(number))
                    self.acknowledged.append(("tag", f"k{number}", str(number)))
        except BaseException as error:  # noqa: BLE001 - reported by the test
            self.error = error
        finally:
            service.db.dispose()


def test_a_backup_under_write_load_restores_every_change_acknowledged_before_it(
        tmp_path, runner_for, model_folder):
    home, dest, restored = tmp_path / "home", tmp_path / "backup", tmp_path / "restored"
    assert charter(home, "register", NAME, str(model_folder(tmp_path / "model"))).exit_code == 0
    (tmp_path / "files").mkdir()
    writer = Writer(home, tmp_path / "files")
    writer.start()
    try:
        deadline = time.monotonic() + 30
        while len(writer.acknowledged) < 50:
            assert writer.is_alive() and time.monotonic() < deadline, writer.error
            time.sleep(0.01)
        before = list(writer.acknowledged)  # acknowledged before the backup began
        # the real entry point, another process, while the writer writes
        backed_up = runner_for(home)("backup", str(dest))
        during = len(writer.acknowledged) - len(before)
    finally:
        writer.stop.set()
        writer.join(timeout=60)
    assert writer.error is None, writer.error
    assert backed_up.returncode == 0, backed_up.stderr
    assert during > 0, "the writer made no change while the backup ran"
    assert "database:" in backed_up.stderr and "blobs:" in backed_up.stderr  # progress
    assert sorted(p.name for p in dest.iterdir()) == ["backup.json", "blobs", "charter.db"]

    restore = charter(restored, "restore", str(dest))
    assert restore.exit_code == 0, restore.stderr
    service = service_at(restored)
    try:
        model = service.get_model(NAME)
        blobs = LocalBlobStore(restored / "blobs")
        for what, key, value in before:
            if what == "tag":
                assert model.tags.get(key) == value, key
            else:
                version = service.get_version(NAME, int(key))
                assert version.files[0].sha256 == value
                assert blobs.exists(value)
        first = service.get_version(NAME, 1)  # the folder registered before the writer
        assert first.stage == Stage.NONE.value and all(blobs.exists(f.sha256)
                                                       for f in first.files)
        assert service.verify_audit().ok
    finally:
        service.db.dispose()
    verified = charter(restored, "audit", "verify")
    assert verified.exit_code == 0, verified.stderr


def test_restore_refuses_a_backup_whose_audit_chain_was_altered(tmp_path):
    home, dest = tmp_path / "home", tmp_path / "backup"
    for number in range(3):
        charter(home, "register", NAME, f"s3://models/{NAME}/{number}")
    assert charter(home, "backup", str(dest)).exit_code == 0
    with sqlite3.connect(dest / "charter.db") as db:  # someone edits the copy
        db.execute("DROP TRIGGER IF EXISTS events_no_update")
        db.execute("UPDATE events SET reason = 'nothing to see' WHERE seq = 2")
    refused = charter(tmp_path / "fresh", "restore", str(dest))
    assert refused.exit_code == 7, refused.stderr
    assert "[audit.chain_broken]" in refused.stderr and "event #2" in refused.stderr
    assert not (tmp_path / "fresh" / "charter.db").exists() or \
        service_at(tmp_path / "fresh").db.generation() == 0


def test_restore_refuses_a_damaged_blob(tmp_path, model_folder):
    home, dest = tmp_path / "home", tmp_path / "backup"
    charter(home, "register", NAME, str(model_folder(tmp_path / "model")))
    assert charter(home, "backup", str(dest)).exit_code == 0
    blob = next((dest / "blobs" / "sha256").rglob("*"), None)
    while blob is not None and blob.is_dir():
        blob = next(blob.rglob("*"), None)
    assert blob is not None
    blob.write_bytes(b"rot" + blob.read_bytes()[3:])
    refused = charter(tmp_path / "fresh", "restore", str(dest))
    assert refused.exit_code != 0
    assert "[backup.corrupt]" in refused.stderr or "digest" in refused.stderr, refused.stderr


def test_restore_into_a_registry_with_events_needs_force(tmp_path):
    home, dest = tmp_path / "home", tmp_path / "backup"
    charter(home, "register", NAME, f"s3://models/{NAME}/1")
    assert charter(home, "backup", str(dest)).exit_code == 0
    charter(home, "register", NAME, f"s3://models/{NAME}/2")  # made after the backup
    refused = charter(home, "restore", str(dest))
    assert refused.exit_code == 5 and "[restore.not_empty]" in refused.stderr
    assert "v2" in charter(home, "show", NAME).stdout  # nothing was replaced
    forced = charter(home, "restore", "--force", str(dest), "--json")
    assert forced.exit_code == 0, forced.stderr
    assert json.loads(forced.stdout)["seq"] == 2  # model created, v1 registered
    shown = charter(home, "show", NAME).stdout
    assert "v1" in shown and "v2" not in shown


def test_backup_refuses_what_it_cannot_copy(tmp_path):
    home = tmp_path / "home"
    charter(home, "register", NAME, f"s3://models/{NAME}/1")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "something").write_text("mine")
    refused = charter(home, "backup", str(tmp_path / "taken"))
    assert refused.exit_code == 3 and "[backup.not_empty]" in refused.stderr
    postgres = charter(home, "--registry", "postgresql://charter@127.0.0.1:1/none", "backup",
                   str(tmp_path / "pg"))
    assert "[backup.unsupported]" in postgres.stderr and "pg_dump" in postgres.stderr
    not_a_backup = charter(home, "restore", str(tmp_path / "taken"))
    assert "[backup.invalid]" in not_a_backup.stderr


def test_restore_refuses_a_backup_of_a_newer_schema_before_replacing_anything(tmp_path):
    """Restored, it would hold a revision this code cannot open: refused while the
    registry still holds what it held."""
    home, dest = tmp_path / "home", tmp_path / "backup"
    charter(home, "register", NAME, f"s3://models/{NAME}/1")
    assert charter(home, "backup", str(dest)).exit_code == 0
    manifest = json.loads((dest / "backup.json").read_text())
    newer = f"{int(manifest['schema']) + 1:04d}"
    (dest / "backup.json").write_text(json.dumps({**manifest, "schema": newer}))
    charter(home, "register", NAME, f"s3://models/{NAME}/2")
    refused = charter(home, "restore", "--force", str(dest))
    assert refused.exit_code != 0 and "[backup.invalid]" in refused.stderr, refused.stderr
    assert f"schema {newer}" in refused.stderr
    assert "v2" in charter(home, "show", NAME).stdout  # nothing was replaced

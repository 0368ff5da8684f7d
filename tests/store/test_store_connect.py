"""``charter.connect`` opens the same registry over either database (DESIGN §6)."""

from __future__ import annotations

import charter
from charter.store.database import Database
from charter.store.driver import READ_CACHE_KIB


def test_connect_to_a_database_url_gives_a_working_registry(database_url, tmp_path):
    registry = charter.connect(database_url, actor="tester", home=tmp_path)
    try:
        registry.register("fraud_detector", "s3://models-bucket/fraud/model.pkl")
        registry.transition("fraud_detector", 1, "Staging", reason="validate")
        resolved = registry.resolve("models:/fraud_detector/Staging")
        assert resolved.version.version == 1
        assert registry.history("fraud_detector")[-1].actor == "tester"
    finally:
        registry.db.dispose()


def test_two_handles_on_one_database_see_each_others_writes(database_url, tmp_path):
    writer = charter.connect(database_url, actor="ci", home=tmp_path)
    reader = charter.connect(database_url, actor="deployer", home=tmp_path)
    try:
        writer.register("fraud_detector", "s3://models-bucket/fraud/model.pkl")
        assert reader.get_model("fraud_detector").last_version == 1
        assert reader.verify_audit().ok
    finally:
        writer.db.dispose()
        reader.db.dispose()


def test_sqlite_read_connections_keep_a_bounded_page_cache(sqlite_database_url):
    """Each kept read connection caches at most READ_CACHE_KIB of pages (a worker keeps
    several); writes keep SQLite's default."""
    db = Database(sqlite_database_url)
    try:
        with db.snapshot() as reader:
            assert reader.value("PRAGMA cache_size") == -READ_CACHE_KIB
        with db.snapshot() as reader:  # a kept connection, as it was set up
            assert reader.value("PRAGMA cache_size") == -READ_CACHE_KIB
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA cache_size").scalar() == -2000
    finally:
        db.dispose()

"""With authentication on, checking a request's token and its right on the model runs
where reads run (server/access.py): on the event loop, not a thread hop per request.

A real server on loopback (tests/e2e/test_pg_loop_reads.py ``serving``), on SQLite and on
PostgreSQL, answers authenticated MLflow reads — an admin's, and a reader's whose right
on the model is checked by the route's rule — while every thread of its pool is taken,
and still refuses a stranger and a revoked token there.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.test_pg_loop_reads import API, SOURCE, service_on, serving, thread_pool_taken

pytestmark = pytest.mark.e2e

READ = ("/model-versions/get-download-uri", {"name": "fraud_detector", "version": "1"})


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres",
                                                            marks=pytest.mark.postgres)])
def test_authenticated_reads_take_no_thread_hop(backend: str, tmp_path: Path,
                                                request: pytest.FixtureRequest) -> None:
    service = service_on(request.getfixturevalue(f"{backend}_database_url"), tmp_path)
    try:
        service.create_model("fraud_detector")
        service.register("fraud_detector", SOURCE)
        service.create_user("alice", admin=True)
        service.create_user("bob")
        service.grant("fraud_detector", "bob", "reader")
        admin = service.create_token("alice").secret
        reader = service.create_token("bob").secret
        revoked = service.create_token("bob")
        service.revoke_token(revoked.record.id)
        endpoint, query = READ
        with serving(service, tmp_path, auth_enabled=True, auth_default_role="none"
                     ) as (url, loop), httpx.Client(timeout=10) as client:
            def ask(token: str | None) -> httpx.Response:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                return client.get(f"{url}{API}{endpoint}", params=query, headers=headers)

            # A token's first use notes it (a write, at most every 5 minutes): before the
            # pool is taken, since on PostgreSQL that write is sent to a thread.
            assert ask(admin).status_code == ask(reader).status_code == 200
            with thread_pool_taken(loop):
                answers = [ask(token) for token in (admin, reader, admin, reader)]
                refusals = [ask(None), ask(revoked.secret), ask("charter_not-a-token")]
        assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
        assert all(a.json() == {"artifact_uri": SOURCE} for a in answers)
        assert [r.status_code for r in refusals] == [401, 401, 401], [r.text for r in refusals]
    finally:
        service.db.dispose()

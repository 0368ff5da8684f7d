"""Who may collect garbage: an admin only — a signed-in admin, or the local admin of an
embedded registry (``charter gc``) — even for a dry run, which lists every blob."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from charter.domain.access import Principal, Role
from charter.domain.errors import PermissionDenied

LATER = timedelta(hours=25)  # past the default 24-hour grace period


def orphan(registry) -> str:
    digest, _ = registry.blobs.put_stream(io.BytesIO(b"bytes no version references"))
    return digest


@pytest.mark.parametrize("apply", [False, True])
def test_a_non_admin_may_not_collect_garbage(registry, apply):
    digest = orphan(registry)
    for principal in (Principal("rita", user_id=3),
                      Principal("olga", user_id=8, registry_role=Role.OWNER)):
        with pytest.raises(PermissionDenied) as refused:
            registry.as_principal(principal).collect_garbage(
                apply=apply, now=datetime.now(UTC) + LATER)
        assert refused.value.code == "access.admin_only"
    assert [blob.digest for blob in registry.blobs.blobs()] == [digest]


def test_the_local_admin_and_a_signed_in_admin_collect_garbage(registry):
    assert registry.principal.admin and registry.principal.is_local  # embedded: charter gc
    digest = orphan(registry)
    dry = registry.collect_garbage(now=datetime.now(UTC) + LATER)
    assert [blob.digest for blob in dry.blobs] == [digest]
    registry.create_user("root", admin=True)
    root = registry.as_principal(
        registry.authenticate(registry.create_token("root").secret))
    applied = root.collect_garbage(apply=True, now=datetime.now(UTC) + LATER)
    assert [blob.digest for blob in applied.blobs] == [digest]
    assert list(registry.blobs.blobs()) == []

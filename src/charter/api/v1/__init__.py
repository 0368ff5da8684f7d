"""Native REST v1, mounted under ``/api/v1``: one small router per subject.

Every handler parses its input, calls one ``ServerRegistry`` method acting as the
caller, and answers the record's ``to_dict()``. Errors travel as exceptions to the
one funnel (``charter.api.errors``) and come out as
``{"error": {"kind", "code", "message", "hint", "details"?}}``; unknown paths and
wrong methods too (``fallback``). docs/rest.md lists every route.
"""

from fastapi import APIRouter

from charter.api.v1 import (
    access,
    audit,
    consumers,
    files,
    governance,
    interfaces,
    models,
    provenance,
    stages,
    versions,
    webhooks,
)
from charter.api.v1.common import error_responses
from charter.api.v1.fallback import fallback_router

SUBJECTS = (models.router, versions.router, stages.router, audit.router, files.router,
            access.router, governance.router, webhooks.router, provenance.router,
            interfaces.router, consumers.router)

router = APIRouter(responses=error_responses())
for _subject in SUBJECTS:
    router.include_router(_subject)
router.include_router(fallback_router(SUBJECTS))  # last: it matches every path

__all__ = ["router"]

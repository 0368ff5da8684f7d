"""A version's interface on its page, and the page comparing two versions
(``/models/{name}/diff?a=3&b=4``, what ``charter diff`` prints)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from charter.domain.records import VersionRecord
from charter.registry import ServerRegistry
from charter.ui.page import UIRoute, render
from charter.web import SIGNED_IN, allow, registry

router = APIRouter(route_class=UIRoute, include_in_schema=False)


def interface_context(service: ServerRegistry, record: VersionRecord,
                      production: int | None) -> dict[str, Any]:
    """What the version page shows of the interface: the version's, and how it differs
    from the one in Production (when another version is there)."""
    against = (service.diff_versions(record.name, production, record.version).interface
               if production is not None and production != record.version else None)
    return {"interface": service.get_interface(record.name, record.version),
            "against_production": against}


@router.get("/models/{name}/diff")
@allow(SIGNED_IN)
def diff_page(request: Request, name: str,
              a: Annotated[str, Query()], b: Annotated[str, Query()]) -> Response:
    service = registry(request)
    found = service.diff_versions(name, a, b)
    return render(request, "diff.html", {"diff": found,
                                         "model": service.get_model(found.name)})

"""How every form is handled: check the CSRF token and the reason, make the change,
then redirect (Post/Redirect/Get) — or, on a refusal, show the same page again
with the message and the hint inside the form that failed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

from charter.domain.errors import CharterError, http_status
from charter.domain.values import check_reason
from charter.registry import ServerRegistry
from charter.ui.page import check_csrf, redirect
from charter.web import registry


@dataclass(frozen=True)
class Failure:
    """A refused form: which one, why, and what the user had typed (to keep it)."""

    form: str
    error: CharterError
    values: dict[str, str] = field(default_factory=dict)

    def value(self, form: str, key: str, default: str = "") -> str:
        return self.values.get(key, default) if form == self.form else default


Change = Callable[[ServerRegistry, str], str]   # (service, reason) -> the notice to show
Page = Callable[[Failure, int], Response]       # re-render the page with a failure


def perform(request: Request, *, form: str, values: dict[str, str], token: str,
            change: Change, success_url: str, page: Page) -> Response:
    check_csrf(request, token)
    try:
        reason = check_reason(values.get("reason", ""), required=True)
        notice = change(registry(request), reason)
    except CharterError as error:
        return page(Failure(form, error, values), http_status(error))
    return redirect(success_url, notice)

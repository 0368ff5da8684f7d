"""The remote half of gates, approvals, retention, webhooks and the long-polled event feed.

Same method names, parameters, records and errors as the embedded service
(``charter.service.gates``, ``.approvals``, ``.retention``, ``.webhooks``), over
the REST routes documented in docs/rest.md.
"""

from __future__ import annotations

from typing import Any

import httpx

from charter.client import records
from charter.client.session import Session, segment
from charter.domain import error_codes as codes
from charter.domain.approvals import ApprovalRecord
from charter.domain.gate_report import GateReport
from charter.domain.records import EventRecord
from charter.domain.retention import RetentionReport
from charter.domain.webhooks import DeliveryRecord, WebhookRecord

MAX_WAIT = 60.0
WAIT_MARGIN = 15.0  # the read timeout of a long poll: the wait plus this


def _version(name: str, version: int | str) -> str:
    return f"/models/{segment(name)}/versions/{segment(version)}"


class GovernanceClient:
    _session: Session
    actor: str

    def _call(self, method: str, path: str, *, json: Any = None,
              params: Any = None) -> Any:  # provided by RemoteRegistry
        raise NotImplementedError

    # ---- gates and approvals -----------------------------------------------------------

    def check_gates(self, name: str, version: int | str, stage: str) -> GateReport:
        answer = self._call("GET", _version(name, version) + "/gates",
                            params={"stage": str(stage)})
        return GateReport.from_dict(answer)

    def request_approval(self, name: str, version: int | str, stage: str, *,
                         comment: str = "") -> ApprovalRecord:
        answer = self._call("POST", _version(name, version) + "/approvals",
                            json={"stage": str(stage), "comment": comment})
        return ApprovalRecord.from_dict(answer)

    def approve(self, name: str, version: int | str, stage: str, *,
                comment: str = "") -> ApprovalRecord:
        answer = self._call("POST", _version(name, version) + "/approvals/approve",
                            json={"stage": str(stage), "comment": comment})
        return ApprovalRecord.from_dict(answer)

    def reject(self, name: str, version: int | str, stage: str, *,
               comment: str) -> ApprovalRecord:
        answer = self._call("POST", _version(name, version) + "/approvals/reject",
                            json={"stage": str(stage), "comment": comment})
        return ApprovalRecord.from_dict(answer)

    def list_approvals(self, name: str, version: int | str | None = None
                       ) -> list[ApprovalRecord]:
        params = {"version": str(version)} if version is not None else None
        answer = self._call("GET", f"/models/{segment(name)}/approvals", params=params)
        return [ApprovalRecord.from_dict(a) for a in answer["approvals"]]

    # ---- retention ------------------------------------------------------------------------

    def retention(self, *, apply: bool = False, name: str | None = None) -> RetentionReport:
        if not apply:
            params = {"name": name} if name is not None else None
            return RetentionReport.from_dict(self._call("GET", "/retention", params=params))
        answer = self._call("POST", "/retention", json={"apply": True, "name": name})
        return RetentionReport.from_dict(answer)

    # ---- webhooks -------------------------------------------------------------------------

    def add_webhook(self, url: str, *, secret: str = "", events_filter: str | list[str] = "",
                    description: str = "") -> WebhookRecord:
        wanted = ([e.strip() for e in events_filter.split(",") if e.strip()]
                  if isinstance(events_filter, str) else list(events_filter))
        body = {"url": url, "secret": secret, "events": wanted, "description": description}
        return WebhookRecord.from_dict(self._call("POST", "/webhooks", json=body))

    def list_webhooks(self) -> list[WebhookRecord]:
        return [WebhookRecord.from_dict(w) for w in self._call("GET", "/webhooks")["webhooks"]]

    def get_webhook(self, webhook_id: int | str) -> WebhookRecord:
        return WebhookRecord.from_dict(self._call("GET", f"/webhooks/{segment(webhook_id)}"))

    def remove_webhook(self, webhook_id: int | str) -> None:
        self._call("DELETE", f"/webhooks/{segment(webhook_id)}")

    def test_webhook(self, webhook_id: int | str) -> DeliveryRecord:
        answer = self._call("POST", f"/webhooks/{segment(webhook_id)}/test")
        return DeliveryRecord.from_dict(answer)

    def webhook_deliveries(self, webhook_id: int | str | None = None, *,
                           status: str | None = None, limit: int = 50) -> list[DeliveryRecord]:
        params: dict[str, Any] = {"limit": limit}
        if webhook_id is not None:
            params["webhook"] = str(webhook_id)
        if status:
            params["status"] = status
        answer = self._call("GET", "/webhooks/deliveries", params=params)
        return [DeliveryRecord.from_dict(d) for d in answer["deliveries"]]

    def redeliver(self, delivery_id: int | str) -> DeliveryRecord:
        answer = self._call("POST", f"/webhooks/deliveries/{segment(delivery_id)}/redeliver")
        return DeliveryRecord.from_dict(answer)

    def deliver_webhooks(self, *, limit: int = 100) -> int:
        from charter.domain.errors import InvalidInput

        raise InvalidInput(codes.WEBHOOK_REMOTE_DELIVER,
                           "A Charter server delivers its webhooks itself",
                           "see the delivery log with `charter webhook deliveries`")

    # ---- the event feed, long-polled ------------------------------------------------------

    def wait_for_events(self, *, after: int = 0, limit: int = 100,
                        wait: float = 30.0) -> list[EventRecord]:
        """Events after ``after``; the server holds the answer up to ``wait`` seconds."""
        wait = max(0.0, min(float(wait), MAX_WAIT))
        timeout = httpx.Timeout(wait + WAIT_MARGIN, connect=5.0)
        answer = self._session.call("GET", "/events", actor=self.actor, timeout=timeout,
                                    params={"after": after, "limit": limit, "wait": wait})
        return records.events(answer)

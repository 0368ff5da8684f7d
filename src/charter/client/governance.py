"""The remote half of gates, approvals, retention, webhooks and the long-polled event feed.

Same method names, parameters, records and errors as the embedded service
(``charter.service.gates``, ``.approvals``, ``.retention``, ``.webhooks``), over
the REST routes documented in docs/rest.md.
"""

from __future__ import annotations

from typing import Any

from charter.client.session import Session, segment
from charter.domain.approvals import ApprovalRecord
from charter.domain.gates import GateReport


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

"""The remote half of versions' interfaces and ``diff_versions``: the embedded service's
methods (``charter.service.interfaces``) over REST v1 (docs/rest.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from charter.client.session import segment
from charter.domain.interface import (
    Interface,
    InterfaceRecord,
    parse_interface,
    parse_interface_text,
)
from charter.domain.version_diff import VersionDiff


def interface_body(interface: Interface | Mapping[str, Any] | str) -> dict[str, Any]:
    """An interface as the server takes it, checked here first (the same rules)."""
    if isinstance(interface, Interface):
        return interface.to_dict()
    if isinstance(interface, str):
        return parse_interface_text(interface).to_dict()
    parse_interface(interface)
    return dict(interface)


class InterfaceClient:
    def _call(self, method: str, path: str, *, json: Any = None,
              params: Any = None) -> Any:  # provided by RemoteRegistry
        raise NotImplementedError

    def get_interface(self, name: str, version: int | str) -> InterfaceRecord:
        return InterfaceRecord.from_dict(self._call("GET", _interface(name, version)))

    def set_interface(self, name: str, version: int | str,
                      interface: Interface | dict[str, Any] | str) -> InterfaceRecord:
        return InterfaceRecord.from_dict(self._call(
            "PUT", _interface(name, version), json={"interface": interface_body(interface)}))

    def diff_versions(self, name: str, a: int | str, b: int | str) -> VersionDiff:
        return VersionDiff.from_dict(self._call(
            "GET", f"/models/{segment(name)}/diff", params={"a": str(a), "b": str(b)}))


def _interface(name: str, version: int | str) -> str:
    return f"/models/{segment(name)}/versions/{segment(version)}/interface"

"""Use cases on versions' interfaces: read one, declare one (once), and compare two
versions (``charter diff``). Where interfaces come from: ``service.declared``; the gate
that keeps Production's: ``service.gates``."""

from __future__ import annotations

from typing import Any

from charter.domain.access import EDIT, READ
from charter.domain.interface import Interface, InterfaceRecord
from charter.domain.version_diff import VersionDiff, diff_versions
from charter.service.base import ServiceBase
from charter.service.declared import given_interface, set_once
from charter.service.versions import parse_version
from charter.store import interfaces, models, versions


class InterfacesMixin(ServiceBase):
    def get_interface(self, name: str, version: int | str) -> InterfaceRecord:
        """The interface version ``version`` of ``name`` declares (``interface`` None if
        it declares none)."""
        with self._read() as reader:
            model, via = models.get(reader, name)
            self._require(READ, model)
            row = versions.row(reader, model, parse_version(version), via=via)
            stored = interfaces.get(reader, row.id)
            return InterfaceRecord(model.name, row.version,
                                   stored.interface if stored else None,
                                   stored.origin if stored else "")

    def set_interface(self, name: str, version: int | str,
                      interface: Interface | dict[str, Any] | str) -> InterfaceRecord:
        """Declare a registered version's interface; set once (the same one again changes
        nothing, another is ``interface.already_set``)."""
        parsed = given_interface(interface)
        if parsed is None:
            return self.get_interface(name, version)
        with self._write() as tx:
            model, via = models.get(tx, name)
            self._require(EDIT, model)
            row = versions.row(tx, model, parse_version(version), via=via)
            set_once(tx, model, row, parsed, interfaces.EXPLICIT)
            stored = interfaces.get(tx, row.id)
            return InterfaceRecord(model.name, row.version, parsed,
                                   stored.origin if stored else interfaces.EXPLICIT)

    def diff_versions(self, name: str, a: int | str, b: int | str) -> VersionDiff:
        """What changed from version ``a`` to ``b``: the interface (as if ``a`` were the
        one callers use), files by digest, tags and descriptions."""
        with self._read() as reader:
            model, via = models.get(reader, name)
            self._require(READ, model)
            rows = [versions.row(reader, model, parse_version(n), via=via) for n in (a, b)]
            first, second = (versions.record(reader, model.name, r.version) for r in rows)
            found = interfaces.of_versions(reader, [r.id for r in rows])
            return diff_versions(first, second, found.get(rows[0].id), found.get(rows[1].id))

"""Two versions of a model side by side (``charter diff NAME A B``): their interfaces,
their files by digest, their tags and descriptions. Pure: built from two records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from charter.domain.compatibility import InterfaceDiff, compare
from charter.domain.interface import Interface
from charter.domain.records import VersionRecord


@dataclass(frozen=True)
class Changed:
    """A key (a file's path, a tag's key) present on both sides with different values."""

    key: str
    before: str
    after: str

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class KeyedDiff:
    added: dict[str, str]
    removed: dict[str, str]
    changed: tuple[Changed, ...]
    same: int

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def to_dict(self) -> dict[str, Any]:
        return {"added": self.added, "removed": self.removed,
                "changed": [c.to_dict() for c in self.changed], "same": self.same}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KeyedDiff:
        return cls(dict(data["added"]), dict(data["removed"]),
                   tuple(Changed(c["key"], c["before"], c["after"]) for c in data["changed"]),
                   int(data["same"]))


def keyed_diff(before: Mapping[str, str], after: Mapping[str, str]) -> KeyedDiff:
    return KeyedDiff(
        added={k: after[k] for k in sorted(after) if k not in before},
        removed={k: before[k] for k in sorted(before) if k not in after},
        changed=tuple(Changed(k, before[k], after[k]) for k in sorted(before)
                      if k in after and before[k] != after[k]),
        same=sum(1 for k in before if k in after and before[k] == after[k]))


@dataclass(frozen=True)
class VersionDiff:
    name: str
    a: int
    b: int
    interface: InterfaceDiff
    files: KeyedDiff                  # path -> sha256
    tags: KeyedDiff
    description: tuple[str, str] | None   # (a's, b's) when they differ
    digests: tuple[str, str]          # the versions' manifest digests

    @property
    def same_files(self) -> bool:
        return self.digests[0] == self.digests[1] and self.files.empty

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "a": self.a, "b": self.b,
                "interface": self.interface.to_dict(), "files": self.files.to_dict(),
                "digests": {"a": self.digests[0], "b": self.digests[1]},
                "tags": self.tags.to_dict(),
                "description": (None if self.description is None else
                                {"a": self.description[0], "b": self.description[1]})}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VersionDiff:
        described = data.get("description")
        return cls(data["name"], int(data["a"]), int(data["b"]),
                   InterfaceDiff.from_dict(data["interface"]),
                   KeyedDiff.from_dict(data["files"]), KeyedDiff.from_dict(data["tags"]),
                   (described["a"], described["b"]) if described else None,
                   (data["digests"]["a"], data["digests"]["b"]))


def diff_versions(a: VersionRecord, b: VersionRecord, a_interface: Interface | None,
                  b_interface: Interface | None) -> VersionDiff:
    """What changed from ``a`` to ``b``; the interface compared as if ``a`` were live."""
    return VersionDiff(
        a.name, a.version, b.version, compare(a_interface, b_interface),
        keyed_diff({f.path: f.sha256 for f in a.files}, {f.path: f.sha256 for f in b.files}),
        keyed_diff(a.tags, b.tags),
        (a.description, b.description) if a.description != b.description else None,
        (a.digest, b.digest))

"""Is a candidate's interface compatible with the one callers use now? Pure rules.

Callers of the current version send its inputs and params and read its outputs. A
candidate keeps them working when it accepts everything they send and answers
everything they read:

=================================================  =============
change (current -> candidate)                      verdict
=================================================  =============
input removed, retyped, or optional -> required    breaking
new required input                                 breaking
new optional input; input required -> optional     compatible
output removed or retyped; required -> optional    breaking
new output; output optional -> required            compatible
param removed, retyped or reshaped                 breaking
new param; param default changed                   compatible
columns <-> tensors (either side)                  breaking
tensor dtype changed, or rank changed              breaking
input dim fixed where it was -1 or another size    breaking
output dim -1 where it was fixed, or resized       breaking
input dim -1 where it was fixed (wider)            compatible
=================================================  =============

Specs are matched by name; unnamed ones (a positional schema) by position.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from charter.domain.interface import Interface, Param, Spec

INPUTS, OUTPUTS, PARAMS = "inputs", "outputs", "params"
_ONE = {INPUTS: "input", OUTPUTS: "output", PARAMS: "param"}


@dataclass(frozen=True)
class Change:
    section: str        # inputs, outputs or params
    name: str           # the spec's name, or #N for a positional one
    what: str           # added, removed, retyped, reshaped, required, optional, default, kind
    before: str         # the current spec, described ("" when added)
    after: str          # the candidate's ("" when removed)
    breaking: bool

    def describe(self) -> str:
        verdict = "breaking" if self.breaking else "compatible"
        subject = f"{_ONE[self.section]} {self.name}"
        if self.what == "added":
            return f"{subject} added: {self.after} ({verdict})"
        if self.what == "removed":
            return f"{subject} removed: was {self.before} ({verdict})"
        return f"{subject} {self.what}: {self.before} -> {self.after} ({verdict})"

    def to_dict(self) -> dict[str, Any]:
        return {"section": self.section, "name": self.name, "what": self.what,
                "before": self.before, "after": self.after, "breaking": self.breaking}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Change:
        return cls(str(data["section"]), str(data["name"]), str(data["what"]),
                   str(data["before"]), str(data["after"]), bool(data["breaking"]))


@dataclass(frozen=True)
class InterfaceDiff:
    """What changed from ``before`` to ``after``; ``known`` is False when either side
    declares no interface (nothing can be compared)."""

    changes: tuple[Change, ...] = ()
    known: bool = True
    note: str = ""

    @property
    def breaking(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.breaking)

    @property
    def compatible(self) -> bool:
        return not self.breaking

    def summary(self, limit: int = 5) -> str:
        """The breaking changes in one line (the first ``limit``)."""
        shown = [c.describe() for c in self.breaking[:limit]]
        more = len(self.breaking) - len(shown)
        return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")

    def to_dict(self) -> dict[str, Any]:
        return {"known": self.known, "compatible": self.compatible, "note": self.note,
                "changes": [c.to_dict() for c in self.changes]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InterfaceDiff:
        return cls(tuple(Change.from_dict(c) for c in data.get("changes", [])),
                   bool(data.get("known", True)), str(data.get("note", "")))


def compare(before: Interface | None, after: Interface | None) -> InterfaceDiff:
    """The changes from ``before`` (what callers use now) to ``after`` (the candidate)."""
    if before is None and after is None:
        return InterfaceDiff(known=False, note="neither version declares an interface")
    if before is None:
        return InterfaceDiff(known=False, note="the current version declares no interface")
    if after is None:
        return InterfaceDiff(known=False, note="the candidate declares no interface")
    changes = (_schema(INPUTS, before.inputs, after.inputs)
               + _schema(OUTPUTS, before.outputs, after.outputs)
               + _params(before.params, after.params))
    return InterfaceDiff(tuple(changes))


def _keyed(specs: tuple[Spec, ...]) -> dict[str, Spec]:
    return {spec.name or f"#{i}": spec for i, spec in enumerate(specs)}


def _schema(section: str, before: tuple[Spec, ...], after: tuple[Spec, ...]) -> list[Change]:
    if before and after and before[0].is_tensor != after[0].is_tensor:
        kinds = {True: "tensors", False: "columns"}
        return [Change(section, "*", "kind", kinds[before[0].is_tensor],
                       kinds[after[0].is_tensor], True)]
    old, new = _keyed(before), _keyed(after)
    changes: list[Change] = []
    for key, spec in old.items():
        if key not in new:
            changes.append(Change(section, key, "removed", spec.describe(), "", True))
        else:
            changes += _spec_changes(section, key, spec, new[key])
    for key, spec in new.items():
        if key not in old:
            breaking = section == INPUTS and spec.required
            changes.append(Change(section, key, "added", "", spec.describe(), breaking))
    return changes


def _spec_changes(section: str, key: str, old: Spec, new: Spec) -> list[Change]:
    if old.type != new.type or old.dtype != new.dtype:
        return [Change(section, key, "retyped", old.describe(), new.describe(), True)]
    changes = []
    if old.is_tensor and old.shape != new.shape:
        changes.append(Change(section, key, "reshaped", old.describe(), new.describe(),
                              not _shape_fits(old.shape, new.shape, section)))
    if old.required != new.required:
        # An input may loosen (callers still send it); an output may tighten.
        loosened = old.required and not new.required
        breaking = not loosened if section == INPUTS else loosened
        changes.append(Change(section, key, "optional" if loosened else "required",
                              old.describe(), new.describe(), breaking))
    return changes


def _shape_fits(old: tuple[int, ...] | None, new: tuple[int, ...] | None, section: str
                ) -> bool:
    """Whether a tensor's new shape keeps callers working (inputs: every shape the old one
    accepted is accepted; outputs: every shape it answers, the old one allowed)."""
    if old is None or new is None:
        return section == INPUTS and new is None or section == OUTPUTS and old is None
    if len(old) != len(new):
        return False
    wide, narrow = (new, old) if section == INPUTS else (old, new)
    return all(w == -1 or w == n for w, n in zip(wide, narrow, strict=True))


def _params(before: tuple[Param, ...], after: tuple[Param, ...]) -> list[Change]:
    old = {p.name: p for p in before}
    new = {p.name: p for p in after}
    changes: list[Change] = []
    for name, param in old.items():
        if name not in new:
            changes.append(Change(PARAMS, name, "removed", param.describe(), "", True))
            continue
        other = new[name]
        if param.type != other.type:
            changes.append(Change(PARAMS, name, "retyped", param.describe(), other.describe(),
                                  True))
        elif param.shape != other.shape:
            changes.append(Change(PARAMS, name, "reshaped", param.describe(),
                                  other.describe(), True))
        elif param.default != other.default:
            changes.append(Change(PARAMS, name, "default", param.describe(), other.describe(),
                                  False))
    changes += [Change(PARAMS, name, "added", "", param.describe(), False)
                for name, param in new.items() if name not in old]
    return changes

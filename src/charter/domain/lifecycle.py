"""The stage lifecycle: which moves are allowed, and what a promotion or rollback changes.

The transition table is data (DESIGN §2.3), so configuration can add edges
without new ``if``s. The planning functions decide *what* to change and refuse
with a stable error code; the service applies the returned changes in one
transaction, and the database's partial unique index is the last line of
defence for "at most one Production version".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from charter.domain import error_codes as codes
from charter.domain.errors import Conflict, InvalidInput


class Stage(StrEnum):
    """A str subclass, so a Stage compares equal to, and formats as, its canonical name."""

    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"


STAGES: tuple[Stage, ...] = tuple(Stage)

_BY_LOWER_NAME = {stage.value.lower(): stage for stage in STAGES}
_STAGE_LIST = ", ".join(stage.value for stage in STAGES)


def parse_stage(text: str) -> Stage:
    """Read a stage name in any letter case ("production", "PRODUCTION") as its canonical Stage."""
    stage = _BY_LOWER_NAME.get(text.lower()) if isinstance(text, str) else None
    if stage is None:
        raise InvalidInput(
            codes.STAGE_UNKNOWN,
            f"{text!r} is not a stage",
            f"use one of: {_STAGE_LIST} (any letter case)",
            {"stage": str(text), "allowed": [s.value for s in STAGES]},
        )
    return stage


def _subject(name: str, version: int | None) -> str:
    """How a message names the version being moved ("Version 3 of fraud_detector")."""
    if version is not None and name:
        return f"Version {version} of {name}"
    if version is not None:
        return f"Version {version}"
    return f"A version of {name}" if name else "A version"


@dataclass(frozen=True)
class TransitionTable:
    edges: frozenset[tuple[Stage, Stage]]

    def allowed_from(self, stage: Stage) -> list[Stage]:
        return [to for to in STAGES if (stage, to) in self.edges]

    def check(
        self, from_stage: Stage, to_stage: Stage, *, name: str = "", version: int | None = None
    ) -> None:
        """Refuse a move the table does not list, naming the moves that are allowed."""
        subject = _subject(name, version)
        if from_stage == to_stage:
            raise Conflict(
                codes.STAGE_UNCHANGED,
                f"{subject} is already in {from_stage}",
                "nothing to do; pick a different target stage",
                {"from": from_stage.value, "to": to_stage.value},
            )
        if (from_stage, to_stage) in self.edges:
            return
        allowed = self.allowed_from(from_stage)
        raise Conflict(
            codes.STAGE_ILLEGAL_TRANSITION,
            f"{subject} cannot move from {from_stage} to {to_stage}",
            _allowed_moves_hint(from_stage, to_stage, allowed),
            {"from": from_stage.value, "to": to_stage.value, "allowed": [s.value for s in allowed]},
        )

    def with_edges(self, extra: Iterable[tuple[str, str]]) -> TransitionTable:
        """A copy of this table with configured edges added (e.g. ("None", "Archived"))."""
        added = {_parse_edge(pair) for pair in extra}
        return TransitionTable(self.edges | frozenset(added))


def _allowed_moves_hint(from_stage: Stage, to_stage: Stage, allowed: list[Stage]) -> str:
    if allowed:
        hint = f"from {from_stage} the allowed moves are: {', '.join(s.value for s in allowed)}"
    else:
        hint = f"from {from_stage} no stage moves are allowed"
    if from_stage is Stage.ARCHIVED and to_stage is Stage.PRODUCTION:
        hint += "; an Archived version returns to Production only through rollback"
    return hint


def _parse_edge(pair: tuple[str, str]) -> tuple[Stage, Stage]:
    try:
        raw_from, raw_to = pair
    except (TypeError, ValueError):
        raise InvalidInput(
            codes.STAGE_INVALID_EDGE,
            f"{pair!r} is not a transition edge",
            'write an edge as a pair of stages, e.g. ("None", "Archived")',
        ) from None
    edge = (parse_stage(raw_from), parse_stage(raw_to))
    if edge[0] == edge[1]:
        raise InvalidInput(
            codes.STAGE_INVALID_EDGE,
            f"the edge {edge[0]} -> {edge[1]} does not change the stage",
            "list edges between two different stages",
        )
    if edge == (Stage.ARCHIVED, Stage.PRODUCTION):
        # DESIGN §2.5: restoring an Archived version is served by rollback only, which
        # also moves the current Production version away in the same step.
        raise InvalidInput(
            codes.STAGE_INVALID_EDGE,
            "the edge Archived -> Production cannot be configured",
            "an Archived version returns to Production only through rollback",
        )
    return edge


DEFAULT_TABLE = TransitionTable(
    frozenset(
        {
            (Stage.NONE, Stage.STAGING),
            (Stage.STAGING, Stage.PRODUCTION),
            (Stage.STAGING, Stage.ARCHIVED),
            (Stage.PRODUCTION, Stage.STAGING),
            (Stage.PRODUCTION, Stage.ARCHIVED),
        }
    )
)


def check_deletable(stage: Stage, *, name: str, version: int) -> None:
    """Only an Archived version may be deleted (DESIGN §2.6)."""
    if stage is Stage.ARCHIVED:
        return
    raise Conflict(
        codes.VERSION_NOT_DELETABLE,
        f"Version {version} of {name} is in {stage}; only Archived versions can be deleted",
        f"archive it first (move v{version} to Archived), then delete it with a reason",
        {"stage": stage.value, "version": version},
    )


@dataclass(frozen=True)
class StageChange:
    version: int
    from_stage: Stage
    to_stage: Stage


class _AnyProduction:
    """Sentinel type for "the caller states no precondition about Production"."""

    def __repr__(self) -> str:
        return "ANY"


ANY: Any = _AnyProduction()


def _describe_slot(version: object) -> str:
    return "empty" if version is None else f"v{version}"


def _check_precondition(name: str, production: int | None, expected: object) -> None:
    if expected is ANY or expected == production:
        return
    raise Conflict(
        codes.STAGE_PRECONDITION_FAILED,
        f"Production of {name} is {_describe_slot(production)}, "
        f"not {_describe_slot(expected)} as expected",
        "Production changed since you last looked; re-read the model and decide again",
        {"expected": expected, "actual": production},
    )


def plan_transition(
    *,
    name: str,
    version: int,
    current: Stage,
    target: Stage,
    production: int | None,
    archive_existing: bool,
    expect_production: int | None | object = ANY,
    table: TransitionTable = DEFAULT_TABLE,
) -> list[StageChange]:
    """The stage changes that move ``version`` to ``target``, in the order to apply them.

    The precondition is checked first: a racing release job must learn that it lost,
    not that its move became illegal as a consequence.
    """
    _check_precondition(name, production, expect_production)
    table.check(current, target, name=name, version=version)
    move = StageChange(version, current, target)
    if target is not Stage.PRODUCTION or production is None or production == version:
        return [move]
    if not archive_existing:
        raise Conflict(
            codes.STAGE_PRODUCTION_TAKEN,
            f"{name} already has v{production} in Production; "
            f"v{version} cannot join it (at most one Production version per model)",
            f"pass archive_existing=true to archive v{production} in the same step, or roll back",
            {"production": production, "version": version},
        )
    return [StageChange(production, Stage.PRODUCTION, Stage.ARCHIVED), move]


def plan_rollback(
    *,
    name: str,
    production: int | None,
    stages: dict[int, Stage],
    production_history: list[int],
) -> list[StageChange]:
    """Swap the current Production version for the one that held Production before it."""
    if production is None:
        raise Conflict(
            codes.ROLLBACK_NO_PRODUCTION,
            f"{name} has no version in Production, so there is nothing to roll back",
            "promote a version instead: rollback only replaces the current Production version",
            {"production": None},
        )
    target = _rollback_target(production, stages, production_history)
    if target is None:
        raise Conflict(
            codes.ROLLBACK_NO_TARGET,
            f"{name} has no earlier Production version to roll back to from v{production}",
            "only a version that was in Production and is now Archived can be restored; "
            "promote a Staging version instead",
            {"production": production},
        )
    return [
        StageChange(production, Stage.PRODUCTION, Stage.STAGING),
        StageChange(target, Stage.ARCHIVED, Stage.PRODUCTION),
    ]


def _rollback_target(
    production: int, stages: dict[int, Stage], production_history: list[int]
) -> int | None:
    # Walk newest first: the predecessor is the most recent earlier holder that is still
    # Archived (one that was deleted or moved on since is no longer "available for rollback").
    for candidate in reversed(production_history):
        if candidate != production and stages.get(candidate) is Stage.ARCHIVED:
            return candidate
    return None

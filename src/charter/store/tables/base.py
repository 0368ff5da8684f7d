"""The declarative base every table of the schema stands on, and the stage names its
CHECK constraints allow."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

STAGE_CHECK = "stage IN ('None', 'Staging', 'Production', 'Archived')"


class Base(DeclarativeBase):
    pass

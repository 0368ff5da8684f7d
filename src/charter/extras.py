"""Optional dependencies: each comes with an extra of the package (pyproject.toml).

A plain ``pip install charter-registry`` leaves them out; the feature that needs one
imports it through ``require``, so a missing package is one error line naming the
install command (``charter-registry[s3]``), not a ``ModuleNotFoundError`` traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput

DISTRIBUTION = "charter-registry"
EXTRA_OF = {"boto3": "s3", "botocore": "s3"}  # top-level module -> the extra that brings it


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` for ``feature``; refused with the install command if it is absent."""
    top = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] != top:
            raise  # the package is there but broken: that is not a missing extra
        extra = EXTRA_OF[top]
        raise InvalidInput(
            codes.CONFIG_MISSING_DEPENDENCY,
            f"{feature} needs the Python package {top!r}, which is not installed",
            f"install the extra: pip install '{DISTRIBUTION}[{extra}]'",
            {"module": top, "extra": extra}) from None

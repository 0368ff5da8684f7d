"""What Charter reads from an uploaded ``MLmodel`` file: its ``signature`` (the version's
interface) and MLflow 3's ``model_id``. YAML, read with PyYAML's safe loader.

An MLmodel that cannot be read, or has no signature, declares nothing: the upload is
still a version. A signature that is there but malformed is refused (``interface.invalid``)
so a wrong interface is never recorded silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from charter.domain.interface import Interface, parse_interface

FILE_NAME = "MLmodel"
MAX_BYTES = 1 << 20   # an MLmodel is a few kilobytes; a larger one is not read


@dataclass(frozen=True)
class MLmodel:
    interface: Interface | None
    model_id: str


def find(paths: Sequence[str]) -> str | None:
    """The MLmodel a version's files hold: the shallowest one (``model/MLmodel`` is found
    for an upload of the folder above it)."""
    found = [p for p in paths if PurePosixPath(p).name == FILE_NAME]
    return min(found, key=lambda p: (p.count("/"), p)) if found else None


def parse(text: bytes) -> MLmodel:
    """The signature and model_id of an MLmodel's bytes (both empty when absent)."""
    if len(text) > MAX_BYTES:
        return MLmodel(None, "")
    import yaml  # on first MLmodel read: opening a registry needs no YAML parser

    try:
        document = yaml.safe_load(text.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError):
        return MLmodel(None, "")
    if not isinstance(document, dict):
        return MLmodel(None, "")
    signature = document.get("signature")
    model_id = document.get("model_id")
    return MLmodel(parse_interface(signature) if signature else None,
                   model_id if isinstance(model_id, str) and len(model_id) <= 64 else "")

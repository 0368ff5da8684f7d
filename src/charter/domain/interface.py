"""A version's interface: what it accepts (inputs, params) and what it answers (outputs).

The model is MLflow's signature: a schema of *column specs* (name, type, required) or of
*tensor specs* (dtype, shape; -1 is a variable dimension), and params (name, type,
default, shape). Charter reads it in MLflow's own forms — the ``signature`` of an
``MLmodel`` file, ``ModelSignature.to_dict()`` whose inputs are JSON text — and in its
own plain form (``Interface.to_dict``), where every schema is a list::

    {"inputs":  [{"name": "amount", "type": "double", "required": true}],
     "outputs": [{"name": "", "type": "tensor", "dtype": "float64", "shape": [-1]}],
     "params":  [{"name": "threshold", "type": "double", "default": 0.5, "shape": null}]}

Pure: parsing and printing only; the comparison is ``domain.compatibility``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput

# The version tags an MLflow client sets to declare a version's interface (docs/mlflow.md).
SIGNATURE_TAG = "mlflow.signature"     # ModelSignature.to_dict() as JSON
INTERFACE_TAG = "charter.interface"    # Interface.to_dict() as JSON
INTERFACE_TAGS = (INTERFACE_TAG, SIGNATURE_TAG)

MAX_SPECS = 2000          # columns or tensors per schema
MAX_TEXT = 1_000_000      # characters of an interface's JSON

_COLUMN_TYPES = ("boolean", "integer", "long", "float", "double", "string", "binary",
                 "datetime", "array", "object", "map", "any")


@dataclass(frozen=True)
class Spec:
    """One column (``type`` is its type) or one tensor (``type`` is "tensor")."""

    name: str                               # "" when the schema is positional
    type: str                               # a column type (with its nested shape) or "tensor"
    required: bool = True
    dtype: str = ""                         # tensors only
    shape: tuple[int, ...] | None = None    # tensors only; -1 is any size

    @property
    def is_tensor(self) -> bool:
        return self.type == "tensor"

    def describe(self) -> str:
        """``double``, ``string (optional)``, ``tensor float32 [-1, 28, 28]``."""
        if self.is_tensor:
            shape = "" if self.shape is None else " [" + ", ".join(map(str, self.shape)) + "]"
            return f"tensor {self.dtype}{shape}"
        return self.type if self.required else f"{self.type} (optional)"

    def to_dict(self) -> dict[str, Any]:
        if self.is_tensor:
            return {"name": self.name, "type": "tensor", "dtype": self.dtype,
                    "shape": list(self.shape) if self.shape is not None else None}
        return {"name": self.name, "type": self.type, "required": self.required}


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: Any = None
    shape: tuple[int, ...] | None = None

    def describe(self) -> str:
        shape = "" if self.shape is None else " [" + ", ".join(map(str, self.shape)) + "]"
        return f"{self.type}{shape} = {json.dumps(self.default)}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "default": self.default,
                "shape": list(self.shape) if self.shape is not None else None}


@dataclass(frozen=True)
class Interface:
    inputs: tuple[Spec, ...] = ()
    outputs: tuple[Spec, ...] = ()
    params: tuple[Param, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": [s.to_dict() for s in self.inputs],
                "outputs": [s.to_dict() for s in self.outputs],
                "params": [p.to_dict() for p in self.params]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))


def invalid(detail: str) -> InvalidInput:
    return InvalidInput(codes.INTERFACE_INVALID, f"the interface is not valid: {detail}",
                        "give MLflow's signature (an MLmodel's `signature`, or "
                        "ModelSignature.to_dict()) or Charter's form: {\"inputs\": [{\"name\": "
                        "\"amount\", \"type\": \"double\"}], \"outputs\": […]} "
                        "(docs/contracts.md, \"The interface\")")


def parse_interface_text(text: str) -> Interface:
    """An interface from JSON text (a tag's value, a file's content)."""
    if len(text) > MAX_TEXT:
        raise invalid(f"it is {len(text)} characters long; at most {MAX_TEXT}")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise invalid(f"it is not JSON ({exc.args[0][:80]})") from exc
    return parse_interface(data)


def parse_interface(data: object) -> Interface:
    """An interface from MLflow's signature dict or Charter's form (module docstring)."""
    if not isinstance(data, Mapping):
        raise invalid("expected an object with inputs, outputs and params")
    unknown = sorted(set(map(str, data)) - {"inputs", "outputs", "params"})
    if unknown:
        raise invalid(f"unknown key(s) {', '.join(unknown)}")
    inputs = _schema(data.get("inputs"), "inputs")
    outputs = _schema(data.get("outputs"), "outputs")
    params = tuple(_param(p, i) for i, p in enumerate(_listed(data.get("params"), "params")))
    if not inputs and not outputs and not params:
        raise invalid("it declares no inputs, outputs or params")
    for where, specs in (("inputs", inputs), ("outputs", outputs)):
        _check_unique([s.name for s in specs if s.name], where)
    _check_unique([p.name for p in params], "params")
    return Interface(inputs, outputs, params)


def _listed(value: object, where: str) -> list[Any]:
    """A schema given as a list, as MLflow's JSON text of a list, or absent."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise invalid(f"{where} is text but not JSON") from exc
    if isinstance(value, Mapping) and where == "params" and "params" in value:
        value = value["params"]
    if not isinstance(value, list):
        raise invalid(f"{where} must be a list of specs")
    if len(value) > MAX_SPECS:
        raise invalid(f"{where} has {len(value)} specs; at most {MAX_SPECS}")
    return value


def _schema(value: object, where: str) -> tuple[Spec, ...]:
    specs = tuple(_spec(item, f"{where}[{i}]") for i, item in enumerate(_listed(value, where)))
    if len({s.is_tensor for s in specs}) > 1:
        raise invalid(f"{where} mixes columns and tensors; a schema is one or the other")
    return specs


def _spec(item: object, where: str) -> Spec:
    if not isinstance(item, Mapping):
        raise invalid(f"{where} must be an object")
    name = _name(item.get("name"), where)
    kind = item.get("type")
    if kind == "tensor":
        tensor = item.get("tensor-spec", item)
        if not isinstance(tensor, Mapping):
            raise invalid(f"{where}: tensor-spec must be an object")
        dtype = tensor.get("dtype")
        if not isinstance(dtype, str) or not dtype.strip() or len(dtype) > 64:
            raise invalid(f"{where}: a tensor needs its dtype, e.g. \"float32\"")
        return Spec(name, "tensor", _required(item, where), dtype.strip(),
                    _shape(tensor.get("shape"), where))
    return Spec(name, _column_type(item, where), _required(item, where))


def _name(value: object, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > 250:
        raise invalid(f"{where}: name must be text of at most 250 characters")
    return value


def _required(item: Mapping[str, Any], where: str) -> bool:
    value = item.get("required", True)
    if not isinstance(value, bool):
        raise invalid(f"{where}: required must be true or false")
    return value


def _column_type(item: Mapping[str, Any], where: str, depth: int = 0) -> str:
    """A column type as one comparable text: ``double``, ``array<string>``,
    ``object{a:long,b?:string}``, ``map<double>``."""
    kind = item.get("type")
    if not isinstance(kind, str) or kind not in _COLUMN_TYPES:
        raise invalid(f"{where}: type {str(kind)[:40]!r} is not one of "
                      f"{', '.join(_COLUMN_TYPES)} or tensor")
    if depth > 8:
        raise invalid(f"{where}: types nest deeper than 8 levels")
    if kind == "array":
        return f"array<{_column_type(_nested(item, 'items', where), where, depth + 1)}>"
    if kind == "map":
        return f"map<{_column_type(_nested(item, 'values', where), where, depth + 1)}>"
    if kind == "object":
        fields = item.get("properties")
        if not isinstance(fields, Mapping):
            raise invalid(f"{where}: an object needs its properties")
        parts = [f"{key}{'' if _required(field, where) else '?'}:"
                 f"{_column_type(field, where, depth + 1)}"
                 for key, field in sorted(fields.items()) if isinstance(field, Mapping)]
        if len(parts) != len(fields):
            raise invalid(f"{where}: every property must be an object with a type")
        return "object{" + ",".join(parts) + "}"
    return kind


def _nested(item: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = item.get(key)
    if not isinstance(value, Mapping):
        raise invalid(f"{where}: {item.get('type')} needs its {key}")
    return value


def _shape(value: object, where: str) -> tuple[int, ...] | None:
    if value is None:
        return None
    if (not isinstance(value, list | tuple) or len(value) > 32
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= -1
                       for d in value)):
        raise invalid(f"{where}: shape must be a list of sizes (-1 for any), e.g. [-1, 4]")
    return tuple(value)


def _param(item: object, index: int) -> Param:
    where = f"params[{index}]"
    if not isinstance(item, Mapping):
        raise invalid(f"{where} must be an object")
    name = _name(item.get("name"), where)
    kind = item.get("type")
    if not name or not isinstance(kind, str) or not kind.strip() or len(kind) > 64:
        raise invalid(f"{where}: a param needs a name and a type")
    return Param(name, kind.strip(), item.get("default"), _shape(item.get("shape"), where))


def _check_unique(names: Sequence[str], where: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise invalid(f"{where} names {name!r} twice")
        seen.add(name)


MAX_MODEL_ID = 64


def check_model_id(model_id: str) -> str:
    """MLflow 3's logged-model id (``m-`` and 32 hex digits): short printable text."""
    if not isinstance(model_id, str) or len(model_id) > MAX_MODEL_ID or not all(
            c.isascii() and c.isprintable() and not c.isspace() for c in model_id):
        raise InvalidInput(codes.MODEL_ID_INVALID, f"{str(model_id)[:80]!r} is not a model id",
                           f"model ids are at most {MAX_MODEL_ID} printable characters, "
                           "e.g. the m-… id MLflow 3 gives a logged model")
    return model_id


@dataclass(frozen=True)
class InterfaceRecord:
    """A version's interface as the registry answers it (None: it declares none)."""

    name: str
    version: int
    interface: Interface | None
    origin: str = ""          # mlmodel, explicit or tag

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "origin": self.origin,
                "interface": self.interface.to_dict() if self.interface else None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InterfaceRecord:
        given = data.get("interface")
        return cls(data["name"], int(data["version"]),
                   parse_interface(given) if given else None, data.get("origin", ""))

"""The shapes a producer really sends, and what happens to a field of another shape.

The input contract (``platform-events.md``, "Shapes a producer really sends") is
lenient on purpose: an agent is an object or a bare id, ids and numbers may come
as text or numbers, enumerated values come in the seeds' spelling (``"not
asked"``, ``"Granted"``). The field types here accept exactly that, and
``lenient_validate`` applies the contract's rule for everything else: a payload
field of an unexpected shape never costs the event, it is left out of what the
file computes and reported as a ``FieldIssue`` (the event itself is kept as sent).

This module is the base of both payload modules (``events`` for lifecycle
types, ``stream`` for ``stream.*`` items), so neither imports the other's models
to get it.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainValidator, ValidationError
from pydantic_core import ErrorDetails

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def parse_timestamp(value: Any) -> datetime:
    """An RFC 3339 timestamp with an offset, or ``ValueError``."""
    if not isinstance(value, str) or not RFC3339.match(value):
        raise ValueError("an RFC 3339 date-time with an offset")
    try:
        return datetime.fromisoformat(value.upper().replace(" ", "T"))
    except ValueError:
        raise ValueError("an RFC 3339 date-time with an offset") from None


def fold(value: str) -> str:
    """The comparison key of an enumerated value: case and separators do not count."""
    return re.sub(r"[\s_\-.]+", "", value.casefold())


class Open(BaseModel):
    """A payload part that keeps keys it does not know and takes ids as text or numbers."""

    model_config = ConfigDict(
        extra="allow", coerce_numbers_to_str=True, frozen=True, populate_by_name=True
    )


def is_scalar(value: Any) -> bool:
    """Text or a number (``true`` is neither): what a bare id or a text field may be."""
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return str(value)
    raise ValueError("text (or a number)")


def as_integer(value: Any) -> int:
    """An integer, also written as text (``"3"``) or as a whole float (``3.0``)."""
    if isinstance(value, bool):
        raise ValueError("an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError("an integer") from None
        if number.is_integer():
            return int(number)
    raise ValueError("an integer")


def _timestamp(value: Any) -> datetime:
    return parse_timestamp(value)


Text = Annotated[str, PlainValidator(_text)]
"""Text; a number is taken as its text (ids come as ``101`` or ``"101"``)."""

Integer = Annotated[int, PlainValidator(as_integer)]
"""An integer; ``"3"`` and ``3.0`` are 3."""

Timestamp = Annotated[datetime, PlainValidator(_timestamp)]
"""A timestamp inside ``data``: RFC 3339 with an offset."""


def one_of(*values: str) -> PlainValidator:
    """One of ``values``, compared case- and separator-insensitively, given back as listed.

    Use: ``Annotated[str, one_of("granted", "denied", "not_asked")]``.
    """
    table = {fold(v): v for v in values}
    expected = "one of " + ", ".join(values)

    def pick(value: Any) -> str:
        if isinstance(value, str):
            hit = table.get(fold(value))
            if hit is not None:
                return hit
        raise ValueError(expected)

    return PlainValidator(pick)


def _id_or_object(value: Any) -> Any:
    """A bare id (text or number) stands for ``{"id": ...}``."""
    if is_scalar(value):
        return {"id": value}
    if not isinstance(value, dict | BaseModel):
        raise ValueError("an object or a bare id")
    return value


BARE_ID = BeforeValidator(_id_or_object)
"""An object, or a bare id standing for it: ``Annotated[Agent, BARE_ID]`` takes ``"a1"``."""

M = TypeVar("M", bound=BaseModel)


def _joined(value: Any) -> Any:
    """A materialized path sent as a list of ids is the same path: ``[2420, 4563]`` -> ``2420/4563``."""
    if isinstance(value, list) and value and all(is_scalar(v) for v in value):
        return "/".join(_text(v) for v in value)
    return value


def _split(value: Any) -> Any:
    """A list of names sent as one ``/``-separated text is the same list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split("/") if part.strip()]
    return value


MaterializedPath = Annotated[Text, BeforeValidator(_joined)]
NameList = Annotated[list[Text], BeforeValidator(_split)]


class Agent(Open):
    """Whoever a payload names as ``agent``: an object, or a bare id."""

    id: Text | None = None
    name: Text | None = None
    first_name: Text | None = None
    last_name: Text | None = None
    email: Text | None = None


AgentRef = Annotated[Agent, BARE_ID]


@dataclass(frozen=True)
class FieldIssue:
    """A payload field of an unexpected shape: left out of the file, kept in the event."""

    field: str  # dotted path from the envelope: "data.from.agent", "sequence"
    expected: str

    def __str__(self) -> str:
        return f"{self.field}: expected {self.expected}"


_EXPECTED = {
    "string_type": "text",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "dict_type": "an object",
    "list_type": "a list",
    "missing": "a value",
}


def _expected(error: ErrorDetails) -> str:
    if error["type"] == "value_error":
        return str(error["ctx"]["error"]) if "ctx" in error else str(error["msg"])
    if error["type"] in _EXPECTED:
        return _EXPECTED[error["type"]]
    return str(error["msg"]).removeprefix("Input should be ")


def _reachable(data: dict[str, Any], loc: tuple[Any, ...]) -> tuple[str, ...]:
    """The longest prefix of an error location that names keys present in ``data``."""
    path: list[str] = []
    node: Any = data
    for part in loc:
        if not isinstance(node, dict) or not isinstance(part, str) or part not in node:
            break
        path.append(part)
        node = node[part]
    return tuple(path)


def lenient_validate(
    model: type[M], data: Any, *, prefix: str = "data"
) -> tuple[M, tuple[FieldIssue, ...]]:
    """Validate ``data`` into ``model``, leaving out each field of an unexpected shape.

    The fast path is one validation. On failure, each offending field (the
    deepest key of the error's location that is present) is removed from a copy
    and validation runs again; ``data`` itself is never changed.
    """
    if not isinstance(data, dict):
        not_object = () if data is None else (FieldIssue(prefix, "an object"),)
        return model.model_validate({}), not_object
    try:
        return model.model_validate(data), ()
    except ValidationError as first:
        error: ValidationError | None = first
    current = copy.deepcopy(data)
    issues: dict[str, FieldIssue] = {}
    while error is not None:
        removed = False
        for item in error.errors():
            path = _reachable(current, tuple(item["loc"]))  # aliases: "from", "list"
            if not path:
                continue
            parent = current
            for key in path[:-1]:
                parent = parent[key]
            if path[-1] in parent:
                del parent[path[-1]]
                removed = True
            name = ".".join((prefix, *path))
            issues.setdefault(name, FieldIssue(name, _expected(item)))
        if not removed:  # nothing left to take out: give up on the payload's fields
            return model.model_validate({}), (*issues.values(), FieldIssue(prefix, "an object"))
        try:
            return model.model_validate(current), tuple(issues.values())
        except ValidationError as again:
            error = again
    raise AssertionError("unreachable")


def canonical(value: str) -> str:
    """An open enumerated value in one spelling: ``"Not Asked"`` -> ``not_asked``."""
    return re.sub(r"[\s_\-]+", "_", value.strip().casefold()).strip("_")


Folded = Annotated[str, PlainValidator(lambda value: canonical(_text(value)))]
"""Text of an open set (a smart action's ``status``), in its canonical spelling."""


def in_range(low: int, high: int | None) -> PlainValidator:
    """An integer in ``low..high`` (``high`` None: no upper bound), also written as text.

    Use: ``Annotated[int, in_range(1, 4)]``.
    """
    expected = f"an integer from {low} to {high}" if high is not None else f"an integer >= {low}"

    def check(value: Any) -> int:
        try:
            number = as_integer(value)
        except ValueError:
            raise ValueError(expected) from None
        if number < low or (high is not None and number > high):
            raise ValueError(expected)
        return number

    return PlainValidator(check)

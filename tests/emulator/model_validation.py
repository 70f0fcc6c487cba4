"""Request validation against botocore's service model, the way AWS's front end checks a request
before the service sees it: required members, enums, lengths, patterns, ranges and types.

Smithy patterns are not anchored (a value matches when the pattern matches part of it), so they
are searched, not matched whole.
"""

import re
from functools import cache

from botocore.model import OperationModel, ServiceModel, Shape
from botocore.session import get_session


@cache
def service_model(service: str) -> ServiceModel:
    return get_session().get_service_model(service)


def operation(service: str, action: str) -> OperationModel | None:
    """The operation's model, or None when the service has no such operation."""
    model = service_model(service)
    return model.operation_model(action) if action in model.operation_names else None


def problems(op: OperationModel, params: dict) -> tuple[list[str], list[tuple[str, str]]]:
    """(missing required members, [(member path, constraint it breaks)]) for a request."""
    missing: list[str] = []
    broken: list[tuple[str, str]] = []
    _check(op.input_shape, params, "", missing, broken)
    return missing, broken


def _check(shape: Shape, value, path: str, missing: list, broken: list) -> None:
    kind = shape.type_name
    if kind == "structure":
        _check_structure(shape, value, path, missing, broken)
    elif kind == "list":
        if not isinstance(value, list):
            broken.append((path, "Member must be a list"))
            return
        _check_size(shape, len(value), path, broken)
        for i, item in enumerate(value):
            _check(shape.member, item, f"{path}.{i + 1}", missing, broken)
    elif kind == "map":
        if not isinstance(value, dict):
            broken.append((path, "Member must be a map"))
            return
        _check_size(shape, len(value), path, broken)
        for key, item in value.items():
            _check(shape.key, key, f"{path}.key", missing, broken)
            _check(shape.value, item, f"{path}.{key}", missing, broken)
    elif kind == "string":
        _check_string(shape, value, path, broken)
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            broken.append((path, "Member must be an integer"))
            return
        _check_range(shape, value, path, broken)
    elif kind == "boolean" and not isinstance(value, bool):
        broken.append((path, "Member must be a boolean"))


def _check_structure(shape: Shape, value, path: str, missing: list, broken: list) -> None:
    if not isinstance(value, dict):
        broken.append((path, "Member must be a structure"))
        return
    prefix = f"{path}." if path else ""
    for name in shape.required_members:
        if value.get(name) is None:
            missing.append(prefix + name)
    for name, member in shape.members.items():
        if value.get(name) is not None:
            _check(member, value[name], prefix + name, missing, broken)


def _check_string(shape: Shape, value, path: str, broken: list) -> None:
    if not isinstance(value, str):
        broken.append((path, "Member must be a string"))
        return
    if shape.enum and value not in shape.enum:
        broken.append((path, f"Member must satisfy enum value set: [{', '.join(shape.enum)}]"))
        return
    _check_size(shape, len(value), path, broken)
    pattern = python_pattern(shape.metadata.get("pattern"))
    if pattern and not re.search(pattern, value):
        broken.append((path, f"Member must satisfy regular expression pattern: {pattern}"))


def python_pattern(pattern: str | None) -> str | None:
    """A model pattern in Python's syntax. Python's re has no Unicode property classes: letters
    and numbers (\\p{L}, \\p{N}) become \\w, which adds only "_", and separators (\\p{Z}) \\s,
    which adds only control whitespace. Session tags are the patterns that use them."""
    if pattern is None:
        return None
    return pattern.replace(r"\p{L}", r"\w").replace(r"\p{N}", r"\w").replace(r"\p{Z}", r"\s")


def _check_size(shape: Shape, size: int, path: str, broken: list) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and size < low:
        broken.append((path, f"Member must have length greater than or equal to {low}"))
    if high is not None and size > high:
        broken.append((path, f"Member must have length less than or equal to {high}"))


def _check_range(shape: Shape, value: int, path: str, broken: list) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        broken.append((path, f"Member must have value greater than or equal to {low}"))
    if high is not None and value > high:
        broken.append((path, f"Member must have value less than or equal to {high}"))

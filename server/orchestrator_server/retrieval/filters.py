"""Metadata filters: a JSON-like mapping (from the request's Struct) to a predicate on a
passage's metadata, with every problem reported under the field it is in.

    {"source": "README.md"}                      equality (a list value: contains it)
    {"lang": {"$in": ["en", "ru"]}}              membership; also $nin
    {"chunk": {"$gte": 2, "$lt": 5}}             $eq $ne $gt $gte $lt $lte (numbers or strings)
    {"draft": {"$exists": false}}                presence of the key
    {"$or": [{...}, {...}]}                      $and, $or over filters; $not of one filter
Several keys in one mapping must all hold. Booleans never equal numbers (true is not 1).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from orchestrator_server.domain.errors import FieldViolation, InvalidRequest

Predicate = Callable[[Mapping[str, Any]], bool]
MAX_DEPTH = 8
_ORDER = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}
_FIELD_OPS = ("$eq", "$ne", "$in", "$nin", "$exists", *_ORDER)
_MISSING = object()


def compile_filter(spec: Mapping[str, Any], field: str = "filter") -> Predicate:
    problems: list[FieldViolation] = []
    predicate = _filter(spec, field, problems, 0)
    if problems:
        raise InvalidRequest(problems)
    return predicate


def _filter(spec: Any, at: str, problems: list[FieldViolation], depth: int) -> Predicate:
    if depth > MAX_DEPTH:
        problems.append(FieldViolation(at, f"nested deeper than {MAX_DEPTH} levels"))
        return _never
    if not isinstance(spec, Mapping):
        problems.append(FieldViolation(at, "must be an object of conditions"))
        return _never
    parts: list[Predicate] = []
    for key, value in spec.items():
        where = f"{at}.{key}"
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                problems.append(FieldViolation(where, "must be a non-empty list of filters"))
                continue
            subs = [_filter(v, f"{where}[{i}]", problems, depth + 1) for i, v in enumerate(value)]
            join = all if key == "$and" else any
            parts.append(lambda m, subs=subs, join=join: join(s(m) for s in subs))  # type: ignore[misc]
        elif key == "$not":
            sub = _filter(value, where, problems, depth + 1)
            parts.append(lambda m, sub=sub: not sub(m))  # type: ignore[misc]
        elif key.startswith("$") or not key:
            problems.append(FieldViolation(where, "unknown operator; use $and, $or or $not"))
        elif isinstance(value, Mapping):
            parts.append(_conditions(key, value, where, problems))
        elif _is_scalar(value):
            parts.append(_equals(key, value))
        else:
            problems.append(FieldViolation(where, "must be a string, number, boolean or object"))
    return lambda m: all(p(m) for p in parts)


def _conditions(
    name: str, ops: Mapping[str, Any], at: str, problems: list[FieldViolation]
) -> Predicate:
    checks: list[Predicate] = []
    if not ops:
        problems.append(FieldViolation(at, "an empty condition; give an operator"))
    for op, arg in ops.items():
        where = f"{at}.{op}"
        if op not in _FIELD_OPS:
            problems.append(FieldViolation(where, f"unknown operator; use {', '.join(_FIELD_OPS)}"))
        elif op in ("$in", "$nin"):
            if not isinstance(arg, list) or not all(_is_scalar(v) for v in arg):
                problems.append(FieldViolation(where, "must be a list of strings or numbers"))
                continue
            member = _member(name, arg)
            checks.append(member if op == "$in" else lambda m, f=member: not f(m))  # type: ignore[misc]
        elif op == "$exists":
            if not isinstance(arg, bool):
                problems.append(FieldViolation(where, "must be true or false"))
                continue
            checks.append(lambda m, want=arg: (name in m) == want)  # type: ignore[misc]
        elif not _is_scalar(arg):
            problems.append(FieldViolation(where, "must be a string, number or boolean"))
        elif op in ("$eq", "$ne"):
            eq = _equals(name, arg)
            checks.append(eq if op == "$eq" else lambda m, f=eq: not f(m))  # type: ignore[misc]
        elif isinstance(arg, bool) or arg is None:
            problems.append(FieldViolation(where, "compares numbers or strings"))
        else:
            checks.append(_ordered(name, _ORDER[op], arg))
    return lambda m: all(c(m) for c in checks)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _key(value: Any) -> tuple[str, Any]:
    """A hashable identity where True and 1 differ but 1 and 1.0 do not."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", float(value))
    return (type(value).__name__, value)


def _values(metadata: Mapping[str, Any], name: str) -> list[Any]:
    value = metadata.get(name, _MISSING)
    if value is _MISSING:
        return []
    return list(value) if isinstance(value, list) else [value]


def _equals(name: str, wanted: Any) -> Predicate:
    key = _key(wanted)
    return lambda m: any(_hashable(v) and _key(v) == key for v in _values(m, name))


def _member(name: str, options: list[Any]) -> Predicate:
    keys = frozenset(_key(v) for v in options)
    return lambda m: any(_hashable(v) and _key(v) in keys for v in _values(m, name))


def _ordered(name: str, compare: Callable[[Any, Any], bool], bound: Any) -> Predicate:
    numeric = isinstance(bound, int | float)

    def check(metadata: Mapping[str, Any]) -> bool:
        value = metadata.get(name)
        if numeric:
            return (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and compare(value, bound)
            )
        return isinstance(value, str) and compare(value, bound)

    return check


def _hashable(value: Any) -> bool:
    return _is_scalar(value)


def _never(metadata: Mapping[str, Any]) -> bool:
    return False

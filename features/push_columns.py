"""Checking pushed JSON columns against their Feast types, and typing them for Feast's writers."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
from feast.value_type import ValueType

from features.push_schema import PushColumn

_FLOAT32_MAX = 3.4028234663852886e38
_RANGES: dict[ValueType, tuple[float, float]] = {
    # Compared as Python numbers, exactly: an integer of any size, NaN and infinities
    # (which Python's JSON reader takes) fall outside; nothing overflows on the way.
    ValueType.INT32: (-(2**31), 2**31 - 1),
    ValueType.INT64: (-(2**63), 2**63 - 1),
    ValueType.FLOAT: (-_FLOAT32_MAX, _FLOAT32_MAX),
    ValueType.DOUBLE: (-sys.float_info.max, sys.float_info.max),
}
_NUMPY_DTYPES: dict[ValueType, str] = {
    ValueType.INT32: "int32",
    ValueType.INT64: "int64",
    ValueType.FLOAT: "float32",
    ValueType.DOUBLE: "float64",
    ValueType.BOOL: "bool",
}
_NULLABLE_DTYPES: dict[ValueType, str] = {
    # Nullable dtypes: a null stays a null (Feast stores an empty value), never a NaN or 0.
    ValueType.INT32: "Int32",
    ValueType.INT64: "Int64",
    ValueType.FLOAT: "Float32",
    ValueType.DOUBLE: "Float64",
    ValueType.BOOL: "boolean",
    ValueType.STRING: "string",
}
_JSON_NAMES: dict[ValueType, str] = {
    ValueType.INT32: "an integer (32-bit)",
    ValueType.INT64: "an integer",
    ValueType.FLOAT: "a number",
    ValueType.DOUBLE: "a number",
    ValueType.BOOL: "true or false",
    ValueType.STRING: "a string",
    ValueType.UNIX_TIMESTAMP: "an ISO 8601 date-time string",
}


def _is_int(value: Any) -> bool:
    return type(value) is int  # bool is an int subclass: true is no count


def _is_number(value: Any) -> bool:
    return type(value) is int or type(value) is float


def _is_bool(value: Any) -> bool:
    return type(value) is bool


def _is_str(value: Any) -> bool:
    return type(value) is str


_CHECKS: dict[ValueType, Callable[[Any], bool]] = {
    ValueType.INT32: _is_int,
    ValueType.INT64: _is_int,
    ValueType.FLOAT: _is_number,
    ValueType.DOUBLE: _is_number,
    ValueType.BOOL: _is_bool,
    ValueType.STRING: _is_str,
    ValueType.UNIX_TIMESTAMP: _is_str,
}


def column_problem(column: PushColumn, values: Sequence[Any]) -> str | None:
    """What is wrong with ``values`` as ``column``, naming the first bad row; None if nothing.

    Types Feast has but this check does not know (lists, maps, bytes) are left to Feast.
    """
    check = _CHECKS.get(column.value_type)
    if check is None:
        return None
    low, high = _RANGES.get(column.value_type, (None, None))
    for row, value in enumerate(values):
        if value is None:
            if column.nullable:
                continue
            return f"row {row}: the {column.role} {column.name!r} may not be null"
        if not check(value):
            wanted = _JSON_NAMES[column.value_type]
            return (
                f"row {row}: {column.name!r} ({column.role}, {column.value_type.name}) "
                f"must be {wanted}, not {type(value).__name__} {_short(value)}"
            )
        if low is not None and high is not None and not low <= value <= high:
            return (
                f"row {row}: {column.name!r} = {_short(value)} is outside the range of "
                f"{column.value_type.name}"
            )
    return None


def typed_column(column: PushColumn, values: Sequence[Any]) -> tuple[pd.Series, str | None]:
    """``values`` as a pandas column of ``column``'s Feast type, or a problem naming the row.

    Timestamps become UTC datetimes (a time without a zone is read as UTC, as Feast reads
    it): Feast's online write parses strings itself, but its offline write does not.
    """
    if column.value_type == ValueType.UNIX_TIMESTAMP:
        times = pd.to_datetime(
            pd.Series(values, dtype="object"), utc=True, errors="coerce", format="ISO8601"
        )
        bad = times.isna() & pd.Series([v is not None for v in values])
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            message = f"row {row}: {column.name!r} ({column.role}) is no date-time: "
            return times, message + _short(values[row])
        return times, None
    if None in values:
        dtype = _NULLABLE_DTYPES.get(column.value_type)
    else:  # plain NumPy columns: several times cheaper to build, and Feast's usual input
        dtype = _NUMPY_DTYPES.get(column.value_type)
    return pd.Series(list(values), dtype=dtype or "object"), None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:60]}..."

"""Decoding columns of serialized Feast ``Value`` protos into the Python values Feast returns.

Feast stores every feature value as a serialized ``feast.types.Value`` message. For the scalar
types a model takes, that message is one tag byte and a fixed-width or varint payload, so a whole
column can be decoded with NumPy at once. Anything that does not look exactly like the expected
shape goes through ``Value.FromString`` and Feast's own ``feast_value_type_to_python_type``, so
correctness never depends on the shortcut.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from feast.protos.feast.types.Value_pb2 import Value
from feast.type_map import NULL_TIMESTAMP_INT_VALUE, feast_value_type_to_python_type
from feast.value_type import ValueType
from google.protobuf.timestamp_pb2 import Timestamp  # type: ignore[import-untyped]

RawColumn = Sequence[bytes | None]
U8Matrix = npt.NDArray[np.uint8]
BoolArray = npt.NDArray[np.bool_]


def _tag(field_name: str, wire_type: int) -> int:
    # Derived from the proto descriptor so a renumbered field disables the shortcut, not parity.
    number: int = Value.DESCRIPTOR.fields_by_name[field_name].number
    return (number << 3) | wire_type


_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5
_DOUBLE_TAG = _tag("double_val", _FIXED64)
_FLOAT_TAG = _tag("float_val", _FIXED32)
_INT64_TAG = _tag("int64_val", _VARINT)
_INT32_TAG = _tag("int32_val", _VARINT)
_BOOL_TAG = _tag("bool_val", _VARINT)
_TIMESTAMP_TAG = _tag("unix_timestamp_val", _VARINT)
_STRING_TAG = _tag("string_val", _LENGTH)
_VARINT_WIDTH = 11  # one tag byte and at most ten varint bytes


def decode_value(raw: bytes | None, value_type: ValueType) -> Any:
    """Decode one serialized ``Value`` exactly as Feast's online read does."""
    if not raw:
        return None
    return feast_value_type_to_python_type(Value.FromString(raw), value_type)


def _lengths(column: list[bytes]) -> npt.NDArray[np.int64]:
    return np.fromiter(map(len, column), dtype=np.int64, count=len(column))


def _matrix(column: list[bytes], lengths: npt.NDArray[np.int64], width: int) -> U8Matrix:
    """The values as a zero-padded ``n x width`` byte matrix; longer values become empty rows."""
    if lengths.size and int(lengths.max()) > width:
        column = [b"" if len(v) > width else v for v in column]
    # NumPy's fixed-width bytes dtype pads with zeros, which the callers rely on.
    packed = np.array(column, dtype=f"S{width}") if column else np.empty(0, dtype=f"S{width}")
    return packed.view(np.uint8).reshape(len(column), width)


def _fixed(
    column: list[bytes], tag: int, dtype: str, width: int
) -> tuple[npt.NDArray[Any], BoolArray, BoolArray]:
    """Payloads of ``tag`` + ``width`` bytes; returns values, where decoded, where missing."""
    lengths = _lengths(column)
    matrix = _matrix(column, lengths, width + 1)
    ok = (lengths == width + 1) & (matrix[:, 0] == tag)
    values = np.ascontiguousarray(matrix[:, 1:]).view(dtype).ravel()
    return values, ok, lengths == 0


def _varints(column: list[bytes], tag: int) -> tuple[npt.NDArray[np.uint64], BoolArray, BoolArray]:
    """Varint payloads after ``tag``: values as uint64, where decoded, where missing."""
    lengths = _lengths(column)
    matrix = _matrix(column, lengths, _VARINT_WIDTH)
    payload = matrix[:, 1:].astype(np.uint64)
    continued = (payload & 0x80) != 0
    # A well-formed varint of k bytes has the continuation bit on its first k-1 bytes only.
    expected = np.arange(_VARINT_WIDTH - 1)[None, :] < (lengths - 2)[:, None]
    ok = (lengths >= 2) & (matrix[:, 0] == tag) & np.all(continued == expected, axis=1)
    shifts = (7 * np.arange(_VARINT_WIDTH - 1, dtype=np.uint64))[None, :]
    values = np.bitwise_or.reduce((payload & 0x7F) << shifts, axis=1)
    return values, ok, lengths == 0


def _assemble(
    column: list[bytes],
    value_type: ValueType,
    values: list[Any],
    ok: BoolArray,
    missing: BoolArray,
) -> list[Any]:
    """Put ``None`` where missing and Feast's own decoding where the shortcut did not apply."""
    for i in np.flatnonzero(~ok).tolist():
        values[i] = None if missing[i] else decode_value(column[i], value_type)
    return values


def _decode_double(column: list[bytes], value_type: ValueType) -> list[Any]:
    values, ok, missing = _fixed(column, _DOUBLE_TAG, "<f8", 8)
    return _assemble(column, value_type, values.tolist(), ok, missing)


def _decode_float(column: list[bytes], value_type: ValueType) -> list[Any]:
    # Feast hands back the float32 widened to a Python float; so does float64 conversion.
    values, ok, missing = _fixed(column, _FLOAT_TAG, "<f4", 4)
    return _assemble(column, value_type, values.astype(np.float64).tolist(), ok, missing)


def _decode_int64(column: list[bytes], value_type: ValueType) -> list[Any]:
    values, ok, missing = _varints(column, _INT64_TAG)
    return _assemble(column, value_type, values.view(np.int64).tolist(), ok, missing)


def _decode_int32(column: list[bytes], value_type: ValueType) -> list[Any]:
    # Protobuf keeps the low 32 bits of an int32 varint (negatives are sign-extended to 10 bytes).
    values, ok, missing = _varints(column, _INT32_TAG)
    decoded = values.astype(np.uint32).view(np.int32).tolist()
    return _assemble(column, value_type, decoded, ok, missing)


def _decode_bool(column: list[bytes], value_type: ValueType) -> list[Any]:
    values, ok, missing = _varints(column, _BOOL_TAG)
    return _assemble(column, value_type, (values != 0).tolist(), ok, missing)


def _decode_timestamp(column: list[bytes], value_type: ValueType) -> list[Any]:
    values, ok, missing = _varints(column, _TIMESTAMP_TAG)
    seconds = values.view(np.int64)
    # Feast's null sentinel decodes to None; leave it to the fallback like any odd value.
    ok &= seconds != NULL_TIMESTAMP_INT_VALUE
    stamps = [
        datetime.fromtimestamp(s, tz=UTC) if good else None
        for s, good in zip(seconds.tolist(), ok.tolist(), strict=True)
    ]
    return _assemble(column, value_type, stamps, ok, missing)


def _decode_string(column: list[bytes], value_type: ValueType) -> list[Any]:
    # Strings become Python objects anyway: one cheap slice per value when the length fits a
    # byte. String features are mostly categories, so each distinct value is decoded once.
    tag = _STRING_TAG
    decoded: dict[bytes, Any] = {}
    for raw in dict.fromkeys(column):
        if len(raw) >= 2 and raw[0] == tag and raw[1] < 0x80 and len(raw) == raw[1] + 2:
            decoded[raw] = raw[2:].decode("utf-8")
        else:
            decoded[raw] = decode_value(raw, value_type)
    return list(map(decoded.__getitem__, column))


_DECODERS: dict[ValueType, Callable[[list[bytes], ValueType], list[Any]]] = {
    ValueType.DOUBLE: _decode_double,
    ValueType.FLOAT: _decode_float,
    ValueType.INT64: _decode_int64,
    ValueType.INT32: _decode_int32,
    ValueType.BOOL: _decode_bool,
    ValueType.UNIX_TIMESTAMP: _decode_timestamp,
    ValueType.STRING: _decode_string,
}


# Up to this many values, NumPy's per-call overhead costs more than decoding one at a time.
FEW_VALUES = 8
_DOUBLE = struct.Struct("<d")
_FLOAT = struct.Struct("<f")


def _varint(raw: bytes, tag: int) -> int | None:
    """The payload of a one-varint ``Value`` with ``tag``, or None if ``raw`` is anything else."""
    if len(raw) < 2 or len(raw) > _VARINT_WIDTH or raw[0] != tag:
        return None
    value = shift = 0
    last = len(raw) - 1
    for i in range(1, len(raw)):
        byte = raw[i]
        if (byte & 0x80 != 0) != (i < last):  # continuation bits on all bytes but the last
            return None
        value |= (byte & 0x7F) << shift
        shift += 7
    return value & 0xFFFFFFFFFFFFFFFF


def _decode_one(raw: bytes, value_type: ValueType) -> Any:
    """One value by the same shortcuts as the column decoders, else Feast's own decoding."""
    if not raw:
        return None
    if value_type is ValueType.DOUBLE and len(raw) == 9 and raw[0] == _DOUBLE_TAG:
        return _DOUBLE.unpack_from(raw, 1)[0]
    if value_type is ValueType.FLOAT and len(raw) == 5 and raw[0] == _FLOAT_TAG:
        return _FLOAT.unpack_from(raw, 1)[0]
    if value_type is ValueType.INT64:
        value = _varint(raw, _INT64_TAG)
        if value is not None:
            return value - (1 << 64) if value >= 1 << 63 else value
    elif value_type is ValueType.INT32:
        value = _varint(raw, _INT32_TAG)
        if value is not None:
            value &= 0xFFFFFFFF
            return value - (1 << 32) if value >= 1 << 31 else value
    elif value_type is ValueType.BOOL:
        value = _varint(raw, _BOOL_TAG)
        if value is not None:
            return value != 0
    elif value_type is ValueType.UNIX_TIMESTAMP:
        value = _varint(raw, _TIMESTAMP_TAG)
        if value is not None:
            seconds = value - (1 << 64) if value >= 1 << 63 else value
            if seconds != NULL_TIMESTAMP_INT_VALUE:
                return datetime.fromtimestamp(seconds, tz=UTC)
    return decode_value(raw, value_type)


def decode_column(raw: RawColumn, value_type: ValueType) -> list[Any]:
    """Decode one feature's serialized values; ``None`` (absent field) and ``b""`` mean missing."""
    column = [v or b"" for v in raw]
    decoder = _DECODERS.get(value_type)
    if decoder is None:
        return [decode_value(v, value_type) for v in column]
    if len(column) <= FEW_VALUES and value_type is not ValueType.STRING:
        return [_decode_one(v, value_type) for v in column]
    return decoder(column, value_type)


# Feast's ``_ts:<view>`` field holds a serialized ``google.protobuf.Timestamp``: the seconds as
# the first varint (field 1), then the nanoseconds (field 2) when there are any. The seconds
# alone decide whether an event time is before a cut-off, except within the cut-off's own
# second: those few go through protobuf.
_SECONDS_TAG = (Timestamp.DESCRIPTOR.fields_by_name["seconds"].number << 3) | _VARINT
_SECONDS_WIDTH = 10
_TIMESTAMP_WIDTH = 1 + _SECONDS_WIDTH + 1 + 5  # both fields, at their longest


def _event_time(raw: bytes) -> float:
    stamp = Timestamp.FromString(raw)
    return float(stamp.seconds) + float(stamp.nanos) * 1e-9


def _leading_seconds(raw: bytes) -> int | None:
    """The seconds of a serialized ``Timestamp``, or None if it is not in the usual shape."""
    if len(raw) < 2 or raw[0] != _SECONDS_TAG:
        return None
    value = shift = 0
    for i in range(1, min(len(raw), 1 + _SECONDS_WIDTH)):
        byte = raw[i]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value - (1 << 64) if value >= 1 << 63 else value
        shift += 7
    return None


def _older_one(raw: bytes, cutoff: float, whole: int) -> bool:
    seconds = _leading_seconds(raw)
    if seconds is None or seconds == whole:
        return _event_time(raw) < cutoff
    return seconds < whole


def _older_many(column: list[bytes], cutoff: float, whole: int) -> BoolArray:
    lengths = _lengths(column)
    matrix = _matrix(column, lengths, _TIMESTAMP_WIDTH)
    payload = matrix[:, 1 : 1 + _SECONDS_WIDTH].astype(np.uint64)
    ends = (payload & 0x80) == 0
    last = np.argmax(ends, axis=1)  # the varint's last byte (the first without continuation)
    shifts = (7 * np.arange(_SECONDS_WIDTH, dtype=np.uint64))[None, :]
    keep = np.arange(_SECONDS_WIDTH)[None, :] <= last[:, None]
    parts = np.where(keep, (payload & 0x7F) << shifts, np.uint64(0))
    seconds = np.bitwise_or.reduce(parts, axis=1).view(np.int64)
    ok = (matrix[:, 0] == _SECONDS_TAG) & ends.any(axis=1) & (last + 2 <= lengths)
    older: BoolArray = seconds < whole
    for i in np.flatnonzero(~ok | (seconds == whole)).tolist():
        older[i] = _event_time(column[i]) < cutoff
    return older


def event_time_before(raw: RawColumn, cutoff: float) -> BoolArray:
    """Where a view's serialized event time (``_ts:<view>``) is before ``cutoff`` (Unix seconds).

    An absent field (``None``: the view has nothing for that entity) is not before anything;
    an empty one is Feast's zero timestamp, the epoch.
    """
    whole = math.floor(cutoff)
    if len(raw) <= FEW_VALUES:
        return np.array([v is not None and _older_one(v, cutoff, whole) for v in raw], dtype=bool)
    present = np.fromiter((v is not None for v in raw), dtype=bool, count=len(raw))
    older: BoolArray = _older_many([v or b"" for v in raw], cutoff, whole) & present
    return older

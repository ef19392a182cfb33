"""Column decoding, one value at a time or a column at a time, equals Feast's own decoding."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from feast.protos.feast.types.Value_pb2 import Value
from feast.type_map import python_values_to_proto_values
from feast.value_type import ValueType

from features.redis.decoding import FEW_VALUES, decode_column, decode_value

rng = random.Random(3)

VALUES: dict[ValueType, list[Any]] = {
    ValueType.DOUBLE: [0.0, -0.0, 1.5, -1e300, 5e-324, math.inf, -math.inf]
    + [rng.uniform(-1e9, 1e9) for _ in range(20)],
    ValueType.FLOAT: [0.0, 1.5, -3.25, 3.4e38] + [rng.uniform(-1e3, 1e3) for _ in range(20)],
    ValueType.INT64: [0, 1, -1, 127, 128, 2**63 - 1, -(2**63), 2**35]
    + [rng.randint(-(2**63), 2**63 - 1) for _ in range(20)],
    ValueType.INT32: [0, 1, -1, 2**31 - 1, -(2**31)]
    + [rng.randint(-(2**31), 2**31 - 1) for _ in range(20)],
    ValueType.BOOL: [True, False] * 6,
    ValueType.UNIX_TIMESTAMP: [
        datetime.fromtimestamp(rng.randint(-(2**31), 2**33), tz=UTC) for _ in range(20)
    ]
    + [datetime(1970, 1, 1, tzinfo=UTC)],
    ValueType.STRING: ["", "a", "ünï-çødé", "x" * 300],
}


def _odd(value_type: ValueType) -> list[bytes]:
    """Well-formed values the shortcuts don't take: other fields, long varints, null sentinels."""
    odd = [
        Value(int32_val=7).SerializeToString(),
        Value(double_val=2.5).SerializeToString(),
        Value(string_val="s").SerializeToString(),
        b"\x18\x80\x00",  # int32_val 0 with an over-long varint
        b"\x20\x80\x80\x00",  # int64_val 0, over-long
    ]
    if value_type is ValueType.UNIX_TIMESTAMP:
        odd.append(Value(unix_timestamp_val=-9223372036854775808).SerializeToString())
    return odd


def _serialized(value_type: ValueType) -> list[bytes | None]:
    protos = python_values_to_proto_values(VALUES[value_type], value_type)
    column: list[bytes | None] = [p.SerializeToString() for p in protos]
    return [*column, None, b"", *_odd(value_type)]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("value_type", list(VALUES), ids=lambda t: t.name)
def test_both_paths_equal_feast(value_type: ValueType) -> None:
    column = _serialized(value_type)
    assert len(column) > FEW_VALUES  # the whole column takes the NumPy path
    feast = [decode_value(v, value_type) for v in column]
    whole = decode_column(column, value_type)
    one_by_one = [decode_column([v], value_type)[0] for v in column]
    for i, expected in enumerate(feast):
        assert _same(whole[i], expected), (i, column[i], whole[i], expected)
        assert _same(one_by_one[i], expected), (i, column[i], one_by_one[i], expected)


@pytest.mark.parametrize(
    "raw",
    [b"\x20", b"\x20\x80", b"\x20\x01\x02", b"\x20" + b"\xff" * 10 + b"\x01", b"\x19" + b"\0" * 7],
    ids=repr,
)
def test_malformed_values_fail_as_feast_does(raw: bytes) -> None:
    """A value the shortcut refuses goes to Feast's decoder: same answer or same error."""
    for value_type in (ValueType.INT64, ValueType.DOUBLE):
        try:
            expected: Any = decode_value(raw, value_type)
        except Exception as exc:  # whatever protobuf raises, we must raise too
            with pytest.raises(type(exc)):
                decode_column([raw], value_type)
            continue
        assert _same(decode_column([raw], value_type)[0], expected)


def test_event_times_before_a_cutoff_agree_with_protobuf() -> None:
    """Feast's ``_ts:<view>`` values: seconds with and without nanos, the epoch, absent."""
    from google.protobuf.timestamp_pb2 import Timestamp

    from features.redis.decoding import event_time_before

    stamps = [(0, 0), (1, 0), (1_700_000_000, 0), (1_700_000_000, 5), (1_700_000_000, 999_999_999)]
    stamps += [(-5, 3), (2**40, 1), (1_699_999_999, 7), (253_402_300_799, 999_999_999)]
    raw: list[bytes | None] = [Timestamp(seconds=s, nanos=n).SerializeToString() for s, n in stamps]
    raw += [None, b"", b"\x08"]  # absent; Feast's zero timestamp; cut short (protobuf decides)
    for cutoff in (1_700_000_000.0, 1_700_000_000.5, 1_700_000_000.000001, 0.0, -4.5, 2.0):
        expected = []
        for value in raw:
            if value is None:
                expected.append(False)
                continue
            try:
                stamp = Timestamp.FromString(value)
            except Exception:  # a cut-short value: whatever protobuf makes of it, so do we
                expected.append(None)
                continue
            expected.append(stamp.seconds + stamp.nanos * 1e-9 < cutoff)
        good = [i for i, e in enumerate(expected) if e is not None]
        one_by_one = [bool(event_time_before([raw[i]], cutoff)[0]) for i in good]
        as_column = event_time_before([raw[i] for i in good] * 3, cutoff).tolist()
        assert one_by_one == [expected[i] for i in good], cutoff
        assert as_column == [expected[i] for i in good] * 3, cutoff

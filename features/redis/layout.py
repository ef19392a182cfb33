"""Feast's Redis layout, taken from Feast's own encoders: entity keys and hash field names.

Feast keeps one Redis hash per entity key (``serialize_entity_key(key) + project``) holding,
for every feature view on that entity, one field per feature named by
``mmh3("<view>:<feature>")`` and a ``_ts:<view>`` field, where ``<view>`` carries a ``_v<N>``
suffix when online feature view versioning is on. We never rebuild those bytes ourselves:
field names come from Feast's ``_mmh3`` and ``_versioned_fv_name``, and keys from Feast's
``_redis_key``, either per entity or, for the common single-key case, through a template that
is cut out of Feast's own output and checked against it on many probe values at start-up.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

from feast import FeatureView, RepoConfig
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.type_map import python_values_to_proto_values
from feast.value_type import ValueType

from features._feast_private import _mmh3, _redis_key, _versioned_fv_name

_INT64 = struct.Struct("<q")
_INT32 = struct.Struct("<i")
_LENGTH = struct.Struct("<I")


def _string_bytes(value: Any) -> bytes:
    encoded = str(value).encode("utf-8")
    return _LENGTH.pack(len(encoded)) + encoded


# How a single join key value is likely laid out inside Feast's key; only ever used after
# the template built from it reproduces Feast's own bytes for every probe below.
_CANDIDATES: dict[ValueType, tuple[Callable[[Any], bytes], tuple[Any, ...]]] = {
    ValueType.INT64: (
        lambda v: _INT64.pack(int(v)),
        (0, -1, 1, 7, 255, 256, -(2**63), 2**63 - 1, 123456789012, -42),
    ),
    ValueType.INT32: (
        lambda v: _INT32.pack(int(v)),
        (0, -1, 1, 7, 255, 256, -(2**31), 2**31 - 1, 1234567, -42),
    ),
    ValueType.STRING: (
        _string_bytes,
        ("", "a", "b", "zz", "drv-0001", "é漢字", "x" * 300, "0", "with space", "-1"),
    ),
}


def field_name(config: RepoConfig, view: FeatureView, feature: str) -> bytes:
    """The hash field that holds ``feature`` of ``view``, as Feast writes it."""
    field: bytes = _mmh3(f"{_versioned_fv_name(view, config)}:{feature}")
    return field


def timestamp_field(config: RepoConfig, view: FeatureView) -> bytes:
    """The hash field that holds ``view``'s event time for an entity, as Feast writes it."""
    return f"_ts:{_versioned_fv_name(view, config)}".encode()


class EntityKeyEncoder:
    """Builds the Redis keys of one entity (a set of join keys) for a batch of values."""

    def __init__(
        self, config: RepoConfig, join_keys: Sequence[str], value_types: Sequence[ValueType]
    ) -> None:
        self._project = config.project
        self._version = config.entity_key_serialization_version
        self._join_keys = list(join_keys)
        self._value_types = list(value_types)
        self._template = (
            self._find_template(self._value_types[0]) if len(self._join_keys) == 1 else None
        )

    def _feast_key(self, values: Sequence[Any]) -> bytes:
        protos = [
            python_values_to_proto_values([v], t)[0]
            for v, t in zip(values, self._value_types, strict=True)
        ]
        key = EntityKey(join_keys=self._join_keys, entity_values=protos)
        encoded: bytes = _redis_key(
            self._project, key, entity_key_serialization_version=self._version
        )
        return encoded

    def _find_template(
        self, value_type: ValueType
    ) -> tuple[bytes, Callable[[Any], bytes], bytes] | None:
        candidate = _CANDIDATES.get(value_type)
        if candidate is None:
            return None
        encode, probes = candidate
        first = self._feast_key([probes[0]])
        middle = encode(probes[0])
        for start in range(len(first) - len(middle) + 1):
            if first[start : start + len(middle)] != middle:
                continue
            prefix, suffix = first[:start], first[start + len(middle) :]
            if all(prefix + encode(p) + suffix == self._feast_key([p]) for p in probes):
                return prefix, encode, suffix
        return None

    def keys(self, columns: Sequence[Sequence[Any]]) -> list[bytes]:
        """Redis keys for entities given as one value column per join key (same order)."""
        if self._template is not None:
            prefix, encode, suffix = self._template
            return [prefix + encode(v) + suffix for v in columns[0]]
        return [self._feast_key(values) for values in zip(*columns, strict=True)]

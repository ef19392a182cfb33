"""What a feature service asks of a request and gives to a model: keys, request fields, features."""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from typing import Any

from feast import FeatureService, FeatureStore
from feast.value_type import ValueType

from features.errors import FeatureServiceNotFound, UnsupportedFeature


class FeatureKind(enum.StrEnum):
    """How a model consumes a scalar feature."""

    NUMERIC = "numeric"
    """Integers and floats, fed as float64."""
    BOOLEAN = "boolean"
    """Booleans, fed as 0.0 / 1.0."""
    CATEGORICAL = "categorical"
    """Strings, fed as integer codes of the levels seen in training."""
    TIMESTAMP = "timestamp"
    """Unix timestamps, fed as seconds since the epoch."""


class FieldType(enum.StrEnum):
    """The JSON type a join key or request field must have in a request."""

    INTEGER = "integer"
    NUMBER = "number"
    STRING = "string"
    BOOLEAN = "boolean"


_KINDS: dict[ValueType, FeatureKind] = {
    ValueType.INT32: FeatureKind.NUMERIC,
    ValueType.INT64: FeatureKind.NUMERIC,
    ValueType.FLOAT: FeatureKind.NUMERIC,
    ValueType.DOUBLE: FeatureKind.NUMERIC,
    ValueType.BOOL: FeatureKind.BOOLEAN,
    ValueType.STRING: FeatureKind.CATEGORICAL,
    ValueType.UNIX_TIMESTAMP: FeatureKind.TIMESTAMP,
}

_FIELD_TYPES: dict[ValueType, FieldType] = {
    ValueType.INT32: FieldType.INTEGER,
    ValueType.INT64: FieldType.INTEGER,
    ValueType.FLOAT: FieldType.NUMBER,
    ValueType.DOUBLE: FieldType.NUMBER,
    ValueType.BOOL: FieldType.BOOLEAN,
    ValueType.STRING: FieldType.STRING,
}


@dataclass(frozen=True)
class FeatureSpec:
    """One model input: Feast's full name (``<view>__<feature>``) and how to encode it."""

    name: str
    kind: FeatureKind
    value_type: str


@dataclass(frozen=True)
class InputField:
    """A value the caller sends: a join key or a request-time field."""

    name: str
    type: FieldType


@dataclass(frozen=True)
class ServiceSchema:
    """The inputs and ordered outputs of one Feast feature service."""

    feature_service: str
    join_keys: tuple[InputField, ...]
    request_fields: tuple[InputField, ...]
    features: tuple[FeatureSpec, ...]

    @functools.cached_property
    def feature_names(self) -> tuple[str, ...]:
        """Feature names in model order (worked out once: every request asks)."""
        return tuple(f.name for f in self.features)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as stored in a model manifest."""
        return {
            "feature_service": self.feature_service,
            "join_keys": [{"name": f.name, "type": f.type.value} for f in self.join_keys],
            "request_fields": [{"name": f.name, "type": f.type.value} for f in self.request_fields],
            "features": [
                {"name": f.name, "kind": f.kind.value, "value_type": f.value_type}
                for f in self.features
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServiceSchema:
        """Inverse of :meth:`to_dict`."""
        return cls(
            feature_service=data["feature_service"],
            join_keys=tuple(InputField(f["name"], FieldType(f["type"])) for f in data["join_keys"]),
            request_fields=tuple(
                InputField(f["name"], FieldType(f["type"])) for f in data["request_fields"]
            ),
            features=tuple(
                FeatureSpec(f["name"], FeatureKind(f["kind"]), f["value_type"])
                for f in data["features"]
            ),
        )


def _input_type(name: str, value_type: ValueType, what: str) -> FieldType:
    try:
        return _FIELD_TYPES[value_type]
    except KeyError:
        raise UnsupportedFeature(
            f"{what} {name!r} has type {value_type.name}; only int, float, bool and string "
            "keys and request fields are supported"
        ) from None


def service_schema(store: FeatureStore, name: str) -> ServiceSchema:
    """Read a feature service from the Feast registry; refuse features that are not scalar."""
    try:
        service: FeatureService = store.get_feature_service(name, allow_cache=True)
    except Exception as exc:  # Feast raises its own FeatureServiceNotFoundException
        raise FeatureServiceNotFound(f"feature service {name!r} is not registered") from exc

    odfvs = {v.name: v for v in store.list_on_demand_feature_views(allow_cache=True)}
    join_keys: dict[str, FieldType] = {}
    request_fields: dict[str, FieldType] = {}
    features: list[FeatureSpec] = []

    def add_view_keys(view_name: str, join_key_map: dict[str, str]) -> None:
        view = store.get_feature_view(view_name, allow_registry_cache=True)
        for column in view.entity_columns:
            key = join_key_map.get(column.name, column.name)
            join_keys.setdefault(key, _input_type(key, column.dtype.to_value_type(), "join key"))

    for projection in service.feature_view_projections:
        odfv = odfvs.get(projection.name)
        if odfv is None:
            add_view_keys(projection.name, projection.join_key_map)
        else:
            for source in odfv.source_feature_view_projections.values():
                add_view_keys(source.name, source.join_key_map)
            for request_source in odfv.source_request_sources.values():
                for field in request_source.schema:
                    request_fields.setdefault(
                        field.name,
                        _input_type(field.name, field.dtype.to_value_type(), "request field"),
                    )
        for feature in projection.features:
            # name_to_use() adds the alias and version tag exactly as Feast names the column.
            view_name = projection.name_to_use()  # type: ignore[no-untyped-call]
            full_name = f"{view_name}__{feature.name}"
            value_type = feature.dtype.to_value_type()
            kind = _KINDS.get(value_type)
            if kind is None:
                raise UnsupportedFeature(
                    f"feature {full_name!r} of service {name!r} has type {value_type.name}; "
                    "models take scalar features only (int, float, bool, string, timestamp), "
                    "not lists, maps, JSON or bytes"
                )
            features.append(FeatureSpec(full_name, kind, value_type.name))

    return ServiceSchema(
        feature_service=name,
        join_keys=tuple(InputField(k, t) for k, t in join_keys.items()),
        request_fields=tuple(InputField(k, t) for k, t in request_fields.items()),
        features=tuple(features),
    )

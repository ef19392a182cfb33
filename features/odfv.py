"""On-demand feature views applied to fetched values with Feast's own transformation code.

Feast's online read (``feast.utils._augment_response_with_on_demand_transforms``) turns the
whole response into a dict or an Arrow table, hides from each view the features of views it
did not declare, calls ``transform_dict`` (python mode) or ``transform_arrow`` (pandas mode)
and converts each output through ``python_values_to_proto_values`` and back. That function
works on a protobuf response we never build, so the column selection is mirrored here, while
the transformation and both conversions are Feast's own functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from feast.on_demand_feature_view import OnDemandFeatureView
from feast.type_map import feast_value_type_to_python_type, python_values_to_proto_values
from feast.types import ComplexFeastType, PrimitiveFeastType
from feast.utils import _parse_feature_ref
from feast.value_type import ValueType

from features.errors import UnsupportedFeature

Columns = dict[str, list[Any]]
InputColumns = Mapping[str, Sequence[Any]]


def python_values_as_feast_returns(values: list[Any], value_type: ValueType) -> list[Any]:
    """``values`` after the proto round trip Feast puts request data and join keys through."""
    kinds = {type(v) for v in values}
    # The round trip is the identity for a column of one plain type; skip its per-value cost.
    if len(kinds) == 1 and kinds <= {int, float, str, bool}:
        return values
    protos = python_values_to_proto_values(values, value_type)
    return [feast_value_type_to_python_type(p) for p in protos]


class OnDemandTransforms:
    """The on-demand views a feature service requests, applied as Feast's online read does."""

    def __init__(
        self,
        odfvs: Sequence[OnDemandFeatureView],
        feature_refs: Sequence[str],
        feature_types: dict[str, ValueType],
    ) -> None:
        self._feature_types = feature_types
        self._feature_refs = list(feature_refs)
        self._odfvs = {
            (odfv.projection.name_alias if odfv.projection else None) or odfv.name: odfv
            for odfv in odfvs
        }
        self._outputs: dict[str, list[str]] = {}
        for ref in feature_refs:
            view_name, _, feature_name = _parse_feature_ref(ref)
            odfv = self._odfvs.get(view_name)
            if odfv is not None:
                full = f"{odfv.projection.name_to_use()}__{feature_name}"  # type: ignore[no-untyped-call]
                self._outputs.setdefault(view_name, []).append(full)
        for name, odfv in self._odfvs.items():
            if odfv.write_to_online_store or odfv.aggregations or odfv.mode == "substrait":
                raise UnsupportedFeature(
                    f"on-demand view {name!r} is written to the store, aggregates or uses "
                    "substrait; the fast Redis read leaves those to Feast's SDK"
                )
        self._hidden = {name: self._undeclared_columns(odfv) for name, odfv in self._odfvs.items()}

    def _undeclared_columns(self, odfv: OnDemandFeatureView) -> set[str]:
        """Columns Feast hides from ``odfv``: features of views it did not declare (#6158)."""
        declared = {p.name for p in odfv.source_feature_view_projections.values()}
        hidden: set[str] = set()
        for ref in self._feature_refs:
            view_name, _, feature_name = _parse_feature_ref(ref)
            if view_name in self._odfvs:
                continue
            if view_name not in declared:
                hidden |= {feature_name, f"{view_name}__{feature_name}"}
        for other in self._odfvs.values():
            for projection in other.source_feature_view_projections.values():
                if projection.name in declared:
                    continue
                for feature in projection.features:
                    hidden |= {feature.name, f"{projection.name}__{feature.name}"}
        return hidden

    @property
    def request_fields(self) -> set[str]:
        """Names of the request-time fields the views read."""
        return {name for odfv in self._odfvs.values() for name in odfv.get_request_data_schema()}

    def apply(self, columns: InputColumns) -> Columns:
        """The requested on-demand features computed from ``columns`` (keys, requests, features)."""
        result: Columns = {}
        for name, outputs in self._outputs.items():
            odfv = self._odfvs[name]
            hidden = self._hidden[name]
            transformed: Any
            if odfv.mode == "python":
                inputs = {k: v for k, v in columns.items() if k not in hidden}
                transformed = odfv.transform_dict(inputs)
                available = list(transformed)
            else:
                # Only the columns the view may see go to Arrow: converting the rest is waste.
                table = pa.Table.from_pydict({k: v for k, v in columns.items() if k not in hidden})
                transformed = odfv.transform_arrow(table, True)
                available = transformed.column_names
            # Outputs carry full names (``<view>__<feature>``); the schema has the short ones.
            prefix = f"{odfv.projection.name_to_use()}__"  # type: ignore[no-untyped-call]
            schema = {f.name: f.dtype for f in odfv.schema}
            schema |= {prefix + f.name: f.dtype for f in odfv.schema}
            for output in (c for c in available if c in outputs):
                vector = transformed[output]
                if odfv.mode == "python":
                    vector = vector if isinstance(vector, list) else [vector]
                else:
                    vector = vector.to_numpy()
                result[output] = self._as_feast_returns(vector, schema.get(output), output)
        return result

    def _as_feast_returns(self, vector: Any, dtype: Any, name: str) -> list[Any]:
        value_type = ValueType.UNKNOWN
        if isinstance(dtype, ComplexFeastType | PrimitiveFeastType):
            value_type = dtype.to_value_type()
        if value_type is ValueType.DOUBLE and isinstance(vector, np.ndarray):
            floats = vector.astype(np.float64)
            # Feast stores NaN as an empty Value, which reads back as None.
            out: list[Any] = floats.tolist()
            for i in np.flatnonzero(np.isnan(floats)).tolist():
                out[i] = None
            return out
        protos = python_values_to_proto_values(vector, value_type)
        return [feast_value_type_to_python_type(p, self._feature_types.get(name)) for p in protos]

"""On-demand feature views applied to fetched values with Feast's own transformation code.

Feast's online read (``feast.utils._augment_response_with_on_demand_transforms``) turns the
whole response into a dict or an Arrow table, hides from each view the features of views it
did not declare, calls ``transform_dict`` (python mode) or ``transform_arrow`` (pandas mode)
and converts each output through ``python_values_to_proto_values`` and back. That function
works on a protobuf response we never build, so the column selection is mirrored here.

Python-mode views go through Feast's ``transform_dict``. Pandas-mode views get the very frame
Feast would build (``features.transforms.frames``) without its Arrow round trip, which costs several
times the view's own function on a small request; a column that is not a plain case takes
Feast's ``transform_arrow``. The value conversions are Feast's own functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from feast.on_demand_feature_view import OnDemandFeatureView
from feast.type_map import feast_value_type_to_python_type, python_values_to_proto_values
from feast.types import ComplexFeastType, PrimitiveFeastType
from feast.value_type import ValueType

from features._feast_private import _parse_feature_ref
from features.errors import UnsupportedFeature
from features.transforms.frames import feast_columns, feast_frame

Columns = dict[str, list[Any]]
InputColumns = Mapping[str, Sequence[Any]]


def python_values_as_feast_returns(values: list[Any], value_type: ValueType) -> list[Any]:
    """``values`` after the proto round trip Feast puts request data and join keys through."""
    kinds = set(map(type, values))
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
        # Outputs carry full names (``<view>__<feature>``); the schema has the short ones.
        # (Feast rebuilds ``odfv.schema`` on every access: read it once.)
        self._dtypes: dict[str, dict[str, Any]] = {}
        self._prefixes: dict[str, str] = {}
        for name, odfv in self._odfvs.items():
            prefix = f"{odfv.projection.name_to_use()}__"  # type: ignore[no-untyped-call]
            self._prefixes[name] = prefix
            fields = odfv.schema
            self._dtypes[name] = {f.name: f.dtype for f in fields}
            self._dtypes[name] |= {prefix + f.name: f.dtype for f in fields}
        self._short_outputs = {odfv.name: {f.name for f in odfv.features} for odfv in odfvs}
        self._source_names = {
            odfv.name: [
                (f"{projection.name}__{feature.name}", feature.name)
                for projection in odfv.source_feature_view_projections.values()
                for feature in projection.features
            ]
            for odfv in self._odfvs.values()
        }

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

    def apply(self, columns: InputColumns) -> Columns:
        """The requested on-demand features computed from ``columns`` (keys, requests, features)."""
        result: Columns = {}
        for name, outputs in self._outputs.items():
            odfv = self._odfvs[name]
            hidden = self._hidden[name]
            visible = {k: v for k, v in columns.items() if k not in hidden}
            vectors: Mapping[str, Any] | None
            if odfv.mode == "python":
                vectors = {k: v if isinstance(v, list) else [v]
                           for k, v in odfv.transform_dict(visible).items()}  # fmt: skip
            else:
                vectors = self._pandas_direct(name, odfv, visible)
                if vectors is None:  # a column Arrow must convert itself: Feast's own route
                    table = odfv.transform_arrow(pa.Table.from_pydict(visible), True)
                    vectors = {c: table[c].to_numpy() for c in table.column_names}
            schema = self._dtypes[name]
            for output in (c for c in vectors if c in outputs):
                result[output] = self._as_feast_returns(vectors[output], schema.get(output), output)
        return result

    def _pandas_direct(
        self, name: str, odfv: OnDemandFeatureView, columns: InputColumns
    ) -> dict[str, Any] | None:
        """The columns ``odfv.transform_arrow(table, True)`` would give, without Arrow; or None.

        The view's function gets the frame Feast would build. None sends the caller to Feast's
        own route, which runs the function again: only for outputs Arrow must rename or convert
        itself (not a frame, or names that clash), which no view of ours produces.
        """
        # _preprocess_arrow_table: each source feature under its short and its full name.
        present, aliases, cleanup = set(columns), [], set()
        for full, short in self._source_names[odfv.name]:
            if full in present:
                aliases.append((short, full))
                cleanup.add(short)
                present.add(short)
            elif short in present:
                aliases.append((full, short))
                cleanup.add(full)
                present.add(full)
        frame = feast_frame(columns, aliases)
        if frame is None:
            return None
        transformation = odfv.feature_transformation
        assert transformation is not None
        output = transformation.udf(frame)
        if not isinstance(output, pd.DataFrame):
            return None
        prefix = self._prefixes[name]
        outputs = self._short_outputs[odfv.name]
        # _postprocess_arrow_table: drop the aliases, give short output names their full name.
        names = [prefix + c if c in outputs else c for c in output.columns if c not in cleanup]
        kept = [c for c in output.columns if c not in cleanup]
        if len(set(names)) != len(names) or not all(isinstance(c, str) for c in kept):
            return None
        return dict(zip(names, feast_columns(output, kept), strict=True))

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

"""The pandas frames Feast hands a pandas-mode on-demand view, built without the Arrow round trip.

For a pandas-mode view, Feast's online read builds ``pa.Table.from_pydict(response)`` (Arrow
infers each column's type from its Python values), converts it with ``Table.to_pandas()``,
calls the view's function, and converts the result back with ``Table.from_pandas``. For a
single entity those conversions cost several times what the function itself does.

:func:`feast_frame` builds the identical frame (same columns, order, dtypes and values)
straight from NumPy arrays for the columns whose conversion is plain (ints, floats, bools,
strings, nulls) and answers ``None`` for anything else, so that the caller takes Feast's own
route. :func:`feast_column` reads an output column as ``Table.from_pandas`` would.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

try:  # pandas internals, for _frame; the public constructor stands in without them
    from pandas.core.internals.managers import (  # type: ignore[import-not-found]
        create_block_manager_from_column_arrays as _block_manager,
    )
except ImportError:  # pragma: no cover - depends on the pandas version
    _block_manager = None

_NONE = type(None)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _ints_fit(values: Sequence[Any]) -> bool:
    ints = [v for v in values if v is not None]
    return not ints or (min(ints) >= _INT64_MIN and max(ints) <= _INT64_MAX)


def arrow_pandas_column(
    values: Sequence[Any], object_strings: bool | None = None
) -> npt.NDArray[Any] | None:
    """``pa.array(values).to_pandas()`` as a NumPy array, or ``None`` if it is not a plain case.

    Arrow infers the type from the values: only None is the null type (pandas: object);
    ints are int64, or float64 with NaN when some are None; floats are float64; bools are
    bool, or object when some are None; strings are object. Mixed ints and floats, big ints,
    timestamps and anything else are left to Arrow.
    """
    kinds = set(map(type, values))
    nullable = _NONE in kinds
    kinds.discard(_NONE)
    if not kinds:
        return np.array(values, dtype=object) if values else np.empty(0, dtype=object)
    if kinds == {float}:
        return np.array(values, dtype=np.float64)  # None becomes NaN, as Arrow's null does
    if kinds == {int}:
        if not _ints_fit(values):
            return None
        return np.array(values, dtype=np.float64 if nullable else np.int64)
    if kinds == {bool}:
        return np.array(values, dtype=object if nullable else np.bool_)
    if object_strings is None:  # pandas' future string dtype off: strings convert to objects
        object_strings = not pd.get_option("future.infer_string")
    if kinds == {str} and object_strings:
        return np.array(values, dtype=object)
    return None


def feast_frame(
    columns: Mapping[str, Sequence[Any]], aliases: Sequence[tuple[str, str]] = ()
) -> pd.DataFrame | None:
    """``pa.Table.from_pydict(columns)`` with ``aliases`` appended, ``.to_pandas()``; or None.

    ``aliases`` are ``(new name, existing name)`` pairs: the extra columns Feast appends
    (``OnDemandFeatureView._preprocess_arrow_table``) so a view sees both the short and the
    full name of each source feature. ``None`` when any column is not a plain case, or an
    alias would duplicate a name (Arrow allows duplicate columns, a dict does not).
    """
    arrays: dict[str, npt.NDArray[Any]] = {}
    object_strings = not pd.get_option("future.infer_string")  # read once, not per column
    for name, values in columns.items():
        array = arrow_pandas_column(values, object_strings)
        if array is None:
            return None
        arrays[name] = array
    for new, existing in aliases:
        if new in arrays:
            return None
        arrays[new] = arrays[existing].copy()  # a column of its own, as to_pandas makes it
    return _frame(arrays)


def _frame(arrays: dict[str, npt.NDArray[Any]]) -> pd.DataFrame:
    """A frame of ``arrays``, one column each, not copied.

    The public constructor checks, copies and consolidates the columns into one block per
    dtype, which costs several times the view's own work on a one-row request; built from
    pandas' block manager with none of that, the frame is the same, column for column. The
    public constructor is the fallback should pandas change its internals; the tests compare
    both with Arrow's own conversion.
    """
    values = list(arrays.values())
    columns = _column_index(tuple(arrays))
    index = pd.RangeIndex(len(values[0]) if values else 0)
    try:
        return _unconsolidated_frame(values, columns, index)
    except (ImportError, AttributeError, TypeError):
        return pd.DataFrame(arrays, copy=False)


def _unconsolidated_frame(
    values: list[npt.NDArray[Any]], columns: pd.Index, index: pd.RangeIndex
) -> pd.DataFrame:
    if _block_manager is None:
        raise ImportError("pandas has no create_block_manager_from_column_arrays")
    manager = _block_manager(values, [columns, index], consolidate=False, refs=[None] * len(values))
    frame: pd.DataFrame = pd.DataFrame._from_mgr(manager, axes=manager.axes)  # type: ignore[attr-defined]
    return frame


@functools.lru_cache(maxsize=256)
def _column_index(names: tuple[str, ...]) -> pd.Index:
    """The columns ``Index`` of a layout: immutable, and the same for every request of a view."""
    return pd.Index(names, dtype=object)


def feast_column(series: pd.Series) -> npt.NDArray[Any]:
    """An output column as ``pa.Table.from_pandas(frame)[name].to_numpy()`` gives it."""
    if series.dtype == np.float64:
        # from_pandas turns NaN into null and to_numpy turns null back into NaN: no change.
        return series.to_numpy(dtype=np.float64, copy=True)
    return pa.array(series, from_pandas=True).to_numpy(zero_copy_only=False)  # type: ignore[no-any-return]


def feast_columns(frame: pd.DataFrame, names: Sequence[str]) -> list[npt.NDArray[Any]]:
    """:func:`feast_column` of each of ``names``; one conversion when they are all floats."""
    if list(frame.columns) == list(names) and all(dtype == np.float64 for dtype in frame.dtypes):
        matrix = frame.to_numpy(dtype=np.float64, copy=True)  # the usual view output
        return [matrix[:, j] for j in range(matrix.shape[1])]
    return [feast_column(frame[name]) for name in names]

"""Rows on their way to a log: what a caller appends, the Arrow they become, their files."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy.typing as npt
import pyarrow as pa

log = logging.getLogger(__name__)

Columns = dict[str, Sequence[Any] | npt.NDArray[Any] | pa.Array]
Build = Callable[[Sequence[Any]], Columns]


class PendingBatch(NamedTuple):
    """Rows waiting to be written, as ``payload``; ``build`` makes their columns later.

    ``build`` takes the payloads of every batch with the same partition, schema and
    ``build`` that a writer round holds, so columns are made once per round rather than once
    per request, off the request path.
    """

    partition: tuple[str, ...]
    schema: pa.Schema
    rows: int
    payload: Any
    build: Build


class SpoolCodec(Protocol):
    """How one log's payloads go to the spool as bytes and come back."""

    def encode(self, payload: Any) -> bytes:
        """``payload`` as bytes; ValueError when this codec cannot hold it."""
        ...

    def decode(self, data: bytes) -> tuple[pa.Schema, Any, Build]:
        """The schema, payload and ``build`` of bytes :meth:`encode` made."""
        ...


def estimated_row_bytes(schema: pa.Schema) -> float:
    """Arrow bytes a row of ``schema`` takes, before a converted round tells the real size."""
    total = 0
    for f in schema:
        try:
            total += max(f.type.bit_width // 8, 1)
        except ValueError:  # variable width (text): a guess, replaced after the first round
            total += 32
    return float(total)


def arrow_table(schema: pa.Schema, columns: Columns) -> pa.Table:
    """``columns`` as a table of ``schema``, in its order and types."""
    arrays = [_array(columns[f.name], f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _array(
    values: Sequence[Any] | npt.NDArray[Any] | pa.Array, arrow_type: pa.DataType
) -> pa.Array:
    if isinstance(values, pa.Array):  # built by the caller with the schema's type
        return values
    return pa.array(values, type=arrow_type, from_pandas=True)


def table_of(
    schema: pa.Schema, batches: list[PendingBatch], log_name: str
) -> tuple[pa.Table | None, list[PendingBatch]]:
    """One table of all ``batches``, and the batches that had to be left out."""
    build = batches[0].build
    try:
        # One conversion per column per round: converting each request's few values
        # separately cost more than everything else the log does.
        return arrow_table(schema, build([batch.payload for batch in batches])), []
    except Exception:  # whatever a bad batch raises, the others are still written
        if len(batches) == 1:
            log.exception("%s: a batch cannot be converted", log_name)
            return None, batches
    tables, bad = [], []
    for batch in batches:  # find the culprit; the rest is written
        try:
            tables.append(arrow_table(schema, build([batch.payload])))
        except Exception:
            log.exception("%s: a batch cannot be converted", log_name)
            bad.append(batch)
    return (pa.concat_tables(tables) if tables else None), bad


class PendingFile(NamedTuple):
    """A Parquet file to write, its name fixed by the segment its rows came from."""

    partition: tuple[str, ...]
    name: str
    table: pa.Table
    nbytes: int
    spooled: Path | None
    """The spool segment holding these rows: removed once all of its files are written."""


def segment_files(
    prefix: str,
    segment: int,
    groups: Sequence[tuple[tuple[tuple[str, ...], pa.Schema], list[pa.Table]]],
    file_rows: int,
    spooled: Path | None,
) -> list[PendingFile]:
    """A segment's files: a group (partition and schema) after another, ``file_rows`` each."""
    files = []
    for g, ((partition, _), tables) in enumerate(groups):
        table = pa.concat_tables(tables)
        for c, start in enumerate(range(0, table.num_rows, file_rows)):
            chunk = table.slice(start, file_rows)
            name = f"{prefix}-{segment:06d}-{g:03d}-{c:04d}.parquet"
            files.append(PendingFile(partition, name, chunk, chunk.nbytes, spooled))
    return files

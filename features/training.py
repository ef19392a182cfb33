"""Point-in-time correct training data from Feast's offline store."""

from __future__ import annotations

import pandas as pd
from feast import FeatureStore

from features.schema import ServiceSchema

EVENT_TIMESTAMP = "event_timestamp"


# Feast's file offline store joins every label row to every feature row of the same entity
# before it filters by time, so its memory grows with label rows x feature rows per entity:
# 400k demo labels peaked near 4 GiB and a million ran out of memory. Joining in slices of
# this many rows bounds the peak and keeps the total work linear in the number of labels.
DEFAULT_CHUNK_ROWS = 100_000


def historical_features(
    store: FeatureStore,
    feature_service: str,
    schema: ServiceSchema,
    labels: pd.DataFrame,
    label_column: str,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> pd.DataFrame:
    """Join the feature service's features onto ``labels`` as of each row's ``event_timestamp``.

    Only the columns Feast needs go in (join keys, request fields, timestamp, label), so stray
    columns of a labels file cannot collide with feature names.
    """
    keep = [
        *(k.name for k in schema.join_keys),
        *(f.name for f in schema.request_fields),
        EVENT_TIMESTAMP,
        label_column,
    ]
    entity_df = labels[list(dict.fromkeys(keep))].copy()
    entity_df[EVENT_TIMESTAMP] = pd.to_datetime(entity_df[EVENT_TIMESTAMP], utc=True)
    entity_df = entity_df.sort_values(EVENT_TIMESTAMP, kind="stable").reset_index(drop=True)
    service = store.get_feature_service(feature_service, allow_cache=True)
    frames = []
    for start in range(0, len(entity_df), chunk_rows):
        chunk = entity_df.iloc[start : start + chunk_rows]
        job = store.get_historical_features(
            entity_df=chunk, features=service, full_feature_names=True
        )
        frames.append(job.to_df())
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames, ignore_index=True)

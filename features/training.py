"""Point-in-time correct training data from Feast's offline store."""

from __future__ import annotations

import pandas as pd
from feast import FeatureStore

from features.schema import ServiceSchema

EVENT_TIMESTAMP = "event_timestamp"


def historical_features(
    store: FeatureStore,
    feature_service: str,
    schema: ServiceSchema,
    labels: pd.DataFrame,
    label_column: str,
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
    service = store.get_feature_service(feature_service, allow_cache=True)
    job = store.get_historical_features(
        entity_df=entity_df, features=service, full_feature_names=True
    )
    frame: pd.DataFrame = job.to_df()
    return frame

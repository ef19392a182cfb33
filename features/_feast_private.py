"""Every private Feast name this project relies on, in one module, for one Feast series.

Feast does not export these, so they may change in any release: ``pyproject.toml`` pins Feast
to the series below, and an upgrade starts here. Each name is used where Feast's own online
read must be matched exactly (the Redis key and field layout, the request plan), and the
parity tests against ``FeatureStore.get_online_features`` say whether they still agree.
"""

from __future__ import annotations

from typing import Any

from feast import FeatureStore
from feast.feature_view import DUMMY_ENTITY, DUMMY_ENTITY_ID, DUMMY_ENTITY_VAL
from feast.infra.online_stores.helpers import _mmh3, _redis_key
from feast.infra.online_stores.redis import _versioned_fv_name
from feast.utils import (
    _get_online_request_context,
    _get_table_entity_values,
    _parse_feature_ref,
)

FEAST_SERIES = "0.67"
"""The Feast minor release these names were checked against (``feast[redis]>=0.67,<0.68``)."""

__all__ = [
    "DUMMY_ENTITY",
    "DUMMY_ENTITY_ID",
    "DUMMY_ENTITY_VAL",
    "FEAST_SERIES",
    "_get_online_request_context",
    "_get_table_entity_values",
    "_mmh3",
    "_parse_feature_ref",
    "_redis_key",
    "_versioned_fv_name",
    "redis_online_client",
]


def redis_online_client(store: FeatureStore) -> Any:
    """Feast's own (synchronous) client of the repo's Redis online store: any ``redis_type``."""
    online_store: Any = store._get_provider().online_store
    return online_store._get_client(store.config.online_store)

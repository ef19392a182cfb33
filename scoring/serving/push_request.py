"""The body of ``POST /push`` (Feast feature server's own), described once, without web code.

``/push`` and the push stream both take it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, ValidationError

from features.push import PushTarget
from scoring.errors import InvalidRequest, clipped


class PushBody(BaseModel):
    """Body of ``POST /push``: Feast feature server's ``PushFeaturesRequest``, field for field.

    Unknown fields are ignored, as Feast's server ignores them, so its clients work unchanged.
    """

    push_source_name: str = Field(description="The Feast push source to write to.")
    df: dict[str, Any] = Field(
        description="The rows, by column: {column: [values]}, one list per column.",
        examples=[
            {
                "customer_id": [1001],
                "event_timestamp": ["2026-01-01T12:00:00Z"],
                "txn_count_1h": [3],
                "txn_amount_1h": [120.5],
                "txn_count_24h": [7],
            }
        ],
    )
    to: PushTarget = Field(default=PushTarget.ONLINE, description="Where the rows are written.")
    allow_registry_cache: bool = Field(
        default=True, description="Whether Feast may use its cached registry."
    )
    transform_on_write: bool = Field(
        default=True, description="Whether Feast applies on-demand transforms on write."
    )


def parse_push(body: Any) -> PushBody:
    """``body`` (parsed JSON) as a push; InvalidRequest naming each field that does not fit."""
    try:
        return PushBody.model_validate(body)
    except ValidationError as exc:
        problems = [
            f"{clipped('.'.join(str(p) for p in e['loc']) or 'body')}: {clipped(e['msg'])}"
            for e in exc.errors()[:5]
        ]
        raise InvalidRequest("; ".join(problems)) from exc

"""The label log: realized labels that arrive after scoring, joined to predictions by id."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from scoring.log.batch import Columns, PendingBatch
from scoring.log.schema import LABELS_SCHEMA, date_partition, labels_dir
from scoring.log.writer import LogCounters, log_writer
from scoring.settings import Settings


def _labels(payloads: Sequence[tuple[Sequence[tuple[str, Any]], datetime]]) -> Columns:
    request_ids: list[Any] = []
    labels: list[Any] = []
    received: list[Any] = []
    for items, received_at in payloads:
        request_ids += [request_id for request_id, _ in items]
        labels += [str(label) for _, label in items]
        received += [received_at] * len(items)
    return {"request_id": request_ids, "label": labels, "received_at": received}


class FeedbackLog:
    """Labels that arrive after scoring, one file per flush, joined to the log by ``request_id``."""

    def __init__(self, settings: Settings) -> None:
        self.root = labels_dir(settings.data_dir)
        self.writer = log_writer(settings, self.root, "feedback-log")

    def append(self, items: Sequence[tuple[str, Any]], received_at: datetime) -> bool:
        """Queue ``(request_id, label)`` pairs, each label a class as its text (``class_text``)."""
        partition = (date_partition(received_at.date()),)
        pending = PendingBatch(partition, LABELS_SCHEMA, len(items), (items, received_at), _labels)
        return self.writer.append(pending)

    def start(self) -> None:
        """Start writing."""
        self.writer.start()

    def close(self) -> LogCounters:
        """Write everything acknowledged and stop."""
        return self.writer.close()

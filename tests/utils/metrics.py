"""Reading Prometheus text format the way Prometheus does, with prometheus_client's parser."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
"""Sample values by name and sorted labels."""


def parse_samples(text: str) -> Samples:
    """Every sample of a scrape."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(collector: Collector) -> Samples:
    """What one collector shows on a scrape of a registry of its own."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return parse_samples(generate_latest(registry).decode())


def select(samples: Samples, name: str, **labels: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples of ``name`` whose labels include ``labels``, by their labels."""
    return {
        key: value
        for (sample, key), value in samples.items()
        if sample == name and set(labels.items()) <= set(key)
    }

"""The bench hands its servers the settings it runs with, through their ``SCORER_`` variables."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bench.servers import settings_environment
from scoring.settings import Settings


@pytest.mark.parametrize(
    "tuned",
    [{}, {"report_retention": timedelta(hours=36, seconds=0.5), "max_batch_rows": 77}],
    ids=["defaults", "tuned"],
)
def test_every_handed_setting_reads_back_as_the_same_value(
    monkeypatch: pytest.MonkeyPatch, tuned: dict[str, object]
) -> None:
    settings = Settings(**tuned)  # type: ignore[arg-type]
    env = settings_environment(settings)
    for name in list(Settings.model_fields):
        monkeypatch.delenv(f"SCORER_{name.upper()}", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    read_back = Settings()
    for name in env:
        field = name.removeprefix("SCORER_").lower()
        assert getattr(read_back, field) == getattr(settings, field), field

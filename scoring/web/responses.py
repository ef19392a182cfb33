"""JSON responses serialized with orjson (numpy scalars, datetimes and NaN as null)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


class JSONBody(Response):
    """A JSON response; orjson writes it several times faster than the standard library."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Serialize ``content``."""
        return orjson.dumps(content, option=_OPTIONS)

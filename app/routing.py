"""URL arguments the database can hold: an id in a URL is at most the largest INTEGER of PostgreSQL."""
from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter, Map

MAX_INTEGER = 2**31 - 1  # our id and number columns are INTEGER (32-bit on PostgreSQL)


class DatabaseInteger(IntegerConverter):
    """`<int:...>` that does not match a number no row can have, so such a URL is a plain 404."""

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_INTEGER)
        super().__init__(url_map, *args, **kwargs)

"""Answers that send a stored file (pages and API alike): the headers that keep a user's file inert."""
from __future__ import annotations

from urllib.parse import quote

from flask import Response


def stored_file(data: bytes, filename: str, content_type: str, *, inline: bool = False) -> Response:
    """The file's bytes: shown in the browser only when `inline` (images checked on upload), else downloaded."""
    return Response(data, mimetype=content_type if inline else "application/octet-stream", headers={
        "Content-Disposition": f"{'inline' if inline else 'attachment'}; filename*=UTF-8''{quote(filename)}",
        # Nothing in a stored file may run as part of this site, whatever a browser guesses it is.
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
    })

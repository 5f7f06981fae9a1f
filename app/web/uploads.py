"""Files posted with a page's form."""
from __future__ import annotations

from flask import request


def posted_files(field: str = "files") -> list[tuple[str, bytes]]:
    """(name, bytes) of each file chosen in the field; a form without a chosen file still sends one empty part."""
    return [(f.filename or "", f.read()) for f in request.files.getlist(field) if f.filename]

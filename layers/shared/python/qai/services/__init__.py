"""What the API does, one module per resource, as plain functions of the dependencies, the caller
and validated input. Nothing here knows about Lambda or HTTP: handlers call these and shape the result."""

from __future__ import annotations

import uuid


def new_id() -> str:
    return str(uuid.uuid4())

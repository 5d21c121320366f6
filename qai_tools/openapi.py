"""The API's OpenAPI document, merged from the API functions' resolvers.

``python -m qai_tools.openapi`` rewrites ``openapi.json``; ``--check`` fails when the file is stale
(CI runs the check through the test suite).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge

ROOT = Path(__file__).resolve().parent.parent
OPENAPI_PATH = ROOT / "openapi.json"
API_FUNCTIONS = ("projects", "messages", "git", "sites")


def openapi_document() -> str:
    merge = OpenAPIMerge(
        title="QAI API",
        version="1.0.0",
        description=(
            "Prompt to running app. Every route needs a JWT (Authorization: Bearer …) that API Gateway "
            'verifies; the caller is its `sub` claim. Errors are {"error": {"code", "message"}}.'
        ),
        on_conflict="error",
    )
    for function in API_FUNCTIONS:
        merge.add_file(ROOT / "functions" / function / "app.py", resolver_name="app")
    document = json.loads(merge.get_openapi_json_schema())
    _drop_unused_validation_error(document)
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _drop_unused_validation_error(document: dict) -> None:
    # Powertools documents a 422 for request validation; qai.api answers those as 400 BAD_REQUEST.
    for operations in document["paths"].values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(name, None)


def main(argv: list[str]) -> int:
    document = openapi_document()
    if "--check" in argv:
        if OPENAPI_PATH.read_text() != document:
            print("openapi.json is stale: run `make openapi`", file=sys.stderr)
            return 1
        return 0
    OPENAPI_PATH.write_text(document)
    print(f"wrote {OPENAPI_PATH.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

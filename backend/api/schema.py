"""The error answers in the OpenAPI schema: each operation documents the 4xx it can give (see errors.py)."""

from __future__ import annotations

from typing import Any

ERROR = {
    "type": "object",
    "description": 'A refusal: {"detail": "…"}, sometimes with more (a 409 for a resent raise names its concern).',
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
BAD_INPUT = {
    "type": "object",
    "description": 'Bad input: {"field": ["message", …]}, or {"detail": "…"} for a body that is not JSON.',
    "additionalProperties": {
        "anyOf": [
            {"type": "string"},
            {"type": "array", "items": {}},
            {"type": "object"},
        ]
    },
}
WHY = {
    400: "Bad input, with a message for each field at fault.",
    401: "No credentials, or a token that is not valid.",
    403: "Signed in, but this role may not do this.",
    404: "Nothing here this caller may see (or a receipt that opens nothing).",
    409: "The concern's state does not allow this move (or the submission was already received).",
    413: "The body is over 256 KB.",
    415: "The body is not JSON.",
    429: "Too many receipt look-ups this minute across the service; try again in a minute.",
}

# Posted to, but they change nothing, so no state can refuse them.
READS = {"/api/v1/follow-up/", "/api/v1/concerns/{reference}/identity/"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors_for(path: str, method: str, operation: dict[str, Any]) -> list[int]:
    codes: set[int] = set()
    parameters = operation.get("parameters", [])
    if "requestBody" in operation:
        codes |= {400, 413, 415}
    if any(p["in"] == "query" and p["name"] != "page" for p in parameters):
        codes.add(400)  # a filter value that is not one of its choices (a bad page is a 404)
    if any(p["in"] == "query" and p["name"] == "page" for p in parameters):
        codes.add(404)  # a page past the end
    if any(p["in"] == "path" for p in parameters):
        codes.add(404)
    if any(requirement for requirement in operation.get("security", [])):
        codes |= {401, 403}
    if path.startswith("/api/v1/follow-up/"):
        codes |= {404, 429}
    if path.startswith("/api/v1/returns/"):
        codes.add(404)  # an organisation the caller produces no return for, or none at all
    if method == "post" and path not in READS:
        codes.add(409)
    return sorted(codes)


def document_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: add the error answers every operation can give."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", ERROR)
    schemas.setdefault("BadInput", BAD_INPUT)
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter.get("schema", {}).get("type") == "integer":
                    parameter["schema"].setdefault("minimum", 0)  # Django's <int:…> matches digits only
            responses = operation.setdefault("responses", {})
            for code in _errors_for(path, method, operation):
                responses.setdefault(
                    str(code),
                    {
                        "description": WHY[code],
                        "content": {"application/json": {"schema": _ref("BadInput" if code == 400 else "Error")}},
                    },
                )
    return result

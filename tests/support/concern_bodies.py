"""What a raiser sends to raise a concern, as the API and the raise form take it: one shape for the
tests, each test saying only what it cares about."""

from __future__ import annotations

from typing import Any


def concern_body(**fields: Any) -> dict[str, Any]:
    """An anonymous member of staff's concern about ward 7 of the demo, with ``fields`` over it."""
    body: dict[str, Any] = {
        "unit": "RNX07",
        "raiser_kind": "staff",
        "identity_mode": "anonymous",
        "themes": ["bullying"],
        "what_happened": "The rota is used to punish people who complain.",
    }
    return body | fields

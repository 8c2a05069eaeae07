"""The request bodies both sides of the intake benchmark send: concerns as a raiser would write them.

One list, written to a file that the wrk script and the fixed-rate generator both read, so both load
generators and both endpoints see the same mix: four units, every raiser kind, anonymous, confidential
and named raisers, one to three themes, one in five urgent, and narratives of 150 to 1,500 characters.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

UNITS = ("RNX07", "RNXMAT", "RCXDNE", "RCXMHC")
RAISER_KINDS = ("staff", "patient", "carer", "public")
IDENTITY_MODES = ("anonymous", "anonymous", "confidential", "named")
THEMES = ("patient_safety", "worker_safety", "bullying", "behaviour", "other")
WORDS = [
    "night",
    "shift",
    "staffing",
    "ward",
    "handover",
    "medication",
    "chart",
    "missed",
    "escalation",
    "sepsis",
    "observations",
    "delayed",
    "bank",
    "nurse",
    "agency",
    "rota",
    "bullying",
    "manager",
    "raised",
    "before",
    "nothing",
    "changed",
    "patient",
    "fell",
    "call",
    "bell",
    "unanswered",
    "pressure",
    "area",
    "care",
    "record",
    "altered",
    "consultant",
    "junior",
    "doctor",
    "theatre",
    "list",
    "cancelled",
]


def _text(rng: random.Random, low: int, high: int) -> str:
    target = rng.randint(low, high)
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < target:
        words.append(rng.choice(WORDS))
    return " ".join(words).capitalize() + "."


def body(rng: random.Random) -> dict[str, object]:
    mode = rng.choice(IDENTITY_MODES)
    data: dict[str, object] = {
        "unit": rng.choice(UNITS),
        "raiser_kind": rng.choice(RAISER_KINDS),
        "identity_mode": mode,
        "themes": sorted(rng.sample(THEMES, rng.randint(1, 3))),
        "urgent": rng.random() < 0.2,
        "what_happened": _text(rng, 150, 1500),
        "when_happened": rng.choice(["", "Last night", "Over the past month", "On Tuesday's late shift"]),
        "desired_outcome": rng.choice(["", _text(rng, 40, 300)]),
    }
    if mode != "anonymous":
        data["raiser_name"] = rng.choice(["A. Nurse", "Sam Carer", "Jo Public", "Dr R. Resident"])
        data["raiser_contact"] = rng.choice(["", "07700 900123", "someone@example.org"])
    return data


def write_bodies(path: Path, *, count: int = 256, seed: int = 20261127) -> Path:
    rng = random.Random(seed)
    path.write_text("".join(json.dumps(body(rng), separators=(",", ":")) + "\n" for _ in range(count)))
    return path

"""An early-warning signal's lifecycle, as data: new -> under review -> closed (with a reason).

Anyone who watches the unit may move it (the services check who); the table says only what follows
what. A closed signal stays closed: the series opens a new one if it crosses again."""

from __future__ import annotations

NEW, UNDER_REVIEW, CLOSED = "new", "under_review", "closed"

# move name -> (the states it may start from, the state it ends in)
MOVES: dict[str, tuple[frozenset[str], str]] = {
    "review": (frozenset({NEW}), UNDER_REVIEW),
    "close": (frozenset({NEW, UNDER_REVIEW}), CLOSED),
}


class IllegalSignalMove(Exception):
    def __init__(self, name: str, state: str) -> None:
        super().__init__(f"a signal that is {state} cannot be moved by {name}")


def check(*, name: str, state: str) -> str:
    """The state the move ends in, or IllegalSignalMove."""
    move = MOVES.get(name)
    if move is None or state not in move[0]:
        raise IllegalSignalMove(name, state)
    return move[1]


def allowed(*, state: str) -> list[str]:
    return [name for name, (sources, _) in MOVES.items() if state in sources]

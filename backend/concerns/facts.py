"""What a use case tells, besides the rows it writes: facts other parts of Candour act on.

Concerns do not know who acts on them (oversight opens alerts from ``Sidelined``); the unit of work
(backend.config.db) hands each fact to the handlers registered for its type once the rows are written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from backend.concerns.models import Concern
from backend.concerns.notices import Directory
from workflows.engine.sidelining import Rule


@dataclass(frozen=True)
class Sidelined:
    """A concern is being sidelined in the way ``rule`` names (DOMAIN.md), as of ``at``.

    ``directory``: the staff already looked up for the same write (a sweep batch), so the notices to
    governors need no second look-up. ``not_before``: when those notices may go out (None: at once;
    an anonymous raiser's report waits past its hour). ``subject``: an opaque key for what within the
    concern the sidelining is about, when a rule alerts once per thing rather than once per concern
    (a conflicted placement: once per person tried); never a name, never anything a governor could
    read a person from."""

    concern: Concern
    rule: Rule
    at: datetime
    directory: Directory | None = None
    not_before: datetime | None = None
    subject: str = ""

"""The one family of application errors. Services raise these; the API maps them to HTTP once
(backend.api.errors) and the pages once (frontend.views), so no entry point decides a status itself.

Each keeps the older, more general exception it replaces as a base (PermissionDenied, ValueError,
the engine's IllegalTransition), so code that catches those still catches them.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from workflows.engine.lifecycle import IllegalTransition


class ApplicationError(Exception):
    """Something a user asked for that Candour refuses, with words fit to show them."""


class NotFound(ApplicationError):
    """No such thing, or nothing the caller may know exists: the same answer for both."""


class Forbidden(ApplicationError, PermissionDenied):
    """The caller may see the thing but not do this to it."""


class Conflict(ApplicationError):
    """The thing is not in a state that allows this (already done, closed, too early)."""


class ConflictedHandler(Conflict):
    """The person chosen to handle the concern must not: the raiser named them, they declared a
    conflict of interest, or the guardian named them. A conflict with what is recorded on the
    concern (409), not a refusal of the caller's role: the guardian may place it with someone else.
    The attempt is recorded (and governors alerted) before this is raised."""


class IllegalMove(Conflict, IllegalTransition):
    """The lifecycle's transition table refuses this move from this state for this actor."""


class NotTheirMove(Forbidden, IllegalTransition):
    """The table never lets this actor make this move, in any state (a handler closing a concern,
    say): a refusal of the role (403), not a conflict with the concern's state (409)."""


class Invalid(ApplicationError, ValueError):
    """The request itself is wrong (a pause without a reason, say)."""


class Busy(ApplicationError):
    """Too much at once (the global ceiling on receipt look-ups): try again shortly."""

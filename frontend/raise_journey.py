"""Raising a concern on the web the way NHS services ask questions: one thing a page, then "check your
answers", then send.

The questions are data (``STEPS``): each names the fields it asks for, how it asks, and when it applies.
The answers travel between pages in the raiser's session, encrypted (the field key of
backend.config.encryption), never in plain text and never in a URL; no concern exists before "Send".
They are deleted when the concern is sent or the raiser cancels, and the session they sit in ends an
hour after the last answer. Each answer is checked by the same input the API uses
(backend.concerns.inputs.ConcernRaiseInput), field by field on its page and whole before sending.

A raiser's journey never shares a session with a staff identity: a signed-in member of staff is signed
out when they start one, so nothing ties a concern to their account.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from django.contrib.auth import logout
from django.http import HttpRequest
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ValidationError

from backend.concerns.crypto import submission_key_new
from backend.concerns.groups import professional_group_choices
from backend.concerns.inputs import NOT_TO_HANDLE_ROLES, ConcernRaiseInput
from backend.concerns.models import RAISER_KIND_CHOICES, THEME_CHOICES, IdentityMode
from backend.config.encryption import decrypt_text, encrypt_text
from backend.organisations.selectors import units_for_raising
from frontend import easy_read
from workflows.engine.vocabulary import RaiserKind

SESSION_KEY = "raise_answers"
# Set in the answers when the raiser started from the easy-read page: every page then speaks easy read.
EASY_READ = "easy_read"
# How long unsent answers live: an hour after the last page answered, then the session ends.
ANSWERS_SECONDS = 60 * 60

Answers = dict[str, Any]
Asks = Literal["radios", "select", "checkboxes", "textarea", "contact", "not_to_handle"]
# Fields answered by ticking any number of boxes.
MANY = frozenset({"themes", "not_to_handle_roles"})


def _always(answers: Answers) -> bool:
    return True


def _for_others(answers: Answers) -> bool:
    return answers.get("raiser_kind") == RaiserKind.REPRESENTATIVE


def _named(answers: Answers) -> bool:
    return answers.get("identity_mode") not in (None, IdentityMode.ANONYMOUS)


@dataclass(frozen=True)
class Step:
    slug: str  # its address: /raise/<slug>/
    fields: tuple[str, ...]
    asks: Asks
    question: str | Promise  # the page's heading, and the row's name on "check your answers"
    hint: str | Promise = ""
    optional: bool = False  # may be left empty (the page says so)
    applies: Callable[[Answers], bool] = _always


STEPS: tuple[Step, ...] = (
    Step("who", ("raiser_kind",), "radios", _("Who are you?"), _("This tells the guardian which deadlines apply.")),
    Step(
        "for-whom",
        ("on_behalf_of",),
        "textarea",
        _("Who are you raising this concern for?"),
        _(
            'For example "the residents of a care home" or "parents in our support group". Only the people looking '
            "into your concern here read this."
        ),
        applies=_for_others,
    ),
    Step(
        "where",
        ("unit",),
        "select",
        _("Which ward or team is your concern about?"),
        _(
            "It can be anywhere in the care system, not only where you work or are treated. It goes to the "
            "organisation it is about; your own organisation is not told."
        ),
    ),
    Step("about", ("themes",), "checkboxes", _("What is your concern about?"), _("Select all that apply.")),
    Step(
        "what-happened",
        ("what_happened",),
        "textarea",
        _("What happened?"),
        _(
            "Tell us what you saw or heard, and what worries you. If you want to stay anonymous, do not include "
            "your own name or details only you would know."
        ),
    ),
    Step(
        "when",
        ("when_happened",),
        "textarea",
        _("When did it happen?"),
        _('For example "most night shifts since March" or "on Tuesday". A rough idea helps.'),
        optional=True,
    ),
    Step(
        "outcome",
        ("desired_outcome",),
        "textarea",
        _("What would you like to happen?"),
        _("What would put things right, for you or for patients."),
        optional=True,
    ),
    Step(
        "not-to-handle",
        ("not_to_handle_roles", "not_to_handle"),
        "not_to_handle",
        _("Is there anyone who must not look into your concern?"),
        _(
            "For example the person your concern is about. Only the Freedom to Speak Up guardian reads this, and "
            "Candour will never give your concern to them."
        ),
        optional=True,
    ),
    Step(
        "urgent",
        ("urgent",),
        "radios",
        _("Are patients at risk of harm now?"),
        _(
            "If you stay anonymous, the guardians are told after the hour has passed, so the time cannot point to "
            'you. Answer "yes" and they are told at once.'
        ),
    ),
    Step(
        "your-group",
        ("professional_group",),
        "radios",
        "Which of these best describes you?",
        "Each quarter the Freedom to Speak Up guardian sends NHS England a count of the concerns raised, by "
        "professional group, with no names and nothing else about you. It helps show which groups find it "
        "hard to speak up. You can leave it out: it changes nothing about how your concern is handled. If you "
        "are staying anonymous and few people do your job, you may prefer to leave it out.",
        optional=True,
    ),
    Step(
        "name",
        ("identity_mode",),
        "radios",
        _("Do you want to give your name?"),
        _(
            "Named: the people looking into your concern know who you are. Confidential: only the Freedom to Speak "
            "Up guardian knows. Anonymous: nobody knows, and nobody can contact you except through your receipt."
        ),
    ),
    Step(
        "contact",
        ("raiser_name", "raiser_contact"),
        "contact",
        _("Your name and how the guardian can contact you"),
        _("The guardian uses these only to talk to you about your concern."),
        applies=_named,
    ),
)
BY_SLUG = {step.slug: step for step in STEPS}

URGENT_CHOICES = (("true", _("Yes, patients may be at risk of harm now")), ("false", _("No")))


@dataclass(frozen=True)
class StepWords:
    """What a question page says: the standard words, or the easy-read ones."""

    question: str | Promise
    lines: tuple[str | Promise, ...]
    choices: tuple[tuple[str, str | Promise], ...]


def is_easy_read(answers: Answers) -> bool:
    return bool(answers.get(EASY_READ))


def step_words(step: Step, answers: Answers) -> StepWords:
    standard = choices_for(step)
    easy = easy_read.STEP_WORDS.get(step.slug) if is_easy_read(answers) else None
    if easy is None:
        return StepWords(question=step.question, lines=(step.hint,) if step.hint else (), choices=standard)
    return StepWords(
        question=easy.question,
        lines=easy.lines,
        choices=tuple((value, easy.choices.get(value, label)) for value, label in standard),
    )


def choices_for(step: Step) -> tuple[tuple[str, str | Promise], ...]:
    """The options a step offers, in words."""
    field = step.fields[0]
    if field == "raiser_kind":
        return tuple(RAISER_KIND_CHOICES)
    if field == "themes":
        return tuple(THEME_CHOICES)
    if field == "professional_group":
        return tuple(professional_group_choices())
    if field == "urgent":
        return URGENT_CHOICES
    if field == "identity_mode":
        return tuple(IdentityMode.choices)
    if field == "not_to_handle_roles":
        return tuple(NOT_TO_HANDLE_ROLES)
    if field == "unit":
        return tuple((u.code, f"{u.name}, {u.parent.name}" if u.parent else u.name) for u in units_for_raising())
    return ()


# ---------------------------------------------------------------- the answers, encrypted in the session


def answers_of(request: HttpRequest) -> Answers | None:
    """The raiser's answers so far; None when no journey is under way (never started, sent, cancelled
    or expired)."""
    token = request.session.get(SESSION_KEY)
    if not isinstance(token, str):
        return None
    try:
        answers = json.loads(decrypt_text(token))
    except (ValueError, TypeError):
        return None  # a key retired since, or a tampered session: start again
    return answers if isinstance(answers, dict) else None


def journey_start(request: HttpRequest, *, easy_read: bool = False) -> Answers:
    """A fresh journey with its one-time submission key (a second "Send" is recognised, not raised twice),
    in easy-read words if the raiser started from the easy-read page."""
    if request.user.is_authenticated:
        logout(request)
    answers: Answers = {"submission_key": submission_key_new()}
    if easy_read:
        answers[EASY_READ] = True
    _store(request, answers)
    return answers


def _store(request: HttpRequest, answers: Answers) -> None:
    request.session[SESSION_KEY] = encrypt_text(json.dumps(answers))
    request.session.set_expiry(ANSWERS_SECONDS)


def journey_end(request: HttpRequest) -> None:
    """Delete the answers and the session row that held them (sent or cancelled)."""
    request.session.flush()


# ---------------------------------------------------------------- checking a page and the whole


def step_posted(step: Step, data: Mapping[str, Any]) -> dict[str, Any]:
    """What the page sent, as the page shows it again beside its errors."""
    posted: dict[str, Any] = {}
    for field in step.fields:
        if field in MANY:
            getlist = getattr(data, "getlist", None)
            values = getlist(field) if getlist else data.get(field, [])
            posted[field] = [str(v) for v in values]
        else:
            posted[field] = str(data.get(field, "")).strip()
    return posted


def step_check(*, step: Step, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """This page's answers, checked by the API's own fields: (values, errors by field)."""
    fields = ConcernRaiseInput().fields
    posted = step_posted(step, data)
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, raw in posted.items():
        if name == "urgent" and raw not in ("true", "false"):
            errors[name] = [str(_("Say whether patients may be at risk of harm now."))]
            continue
        if name in ("raiser_kind", "identity_mode") and not raw:
            errors[name] = [str(_("Choose one of the answers."))]
            continue
        if name == "what_happened" and not raw:
            errors[name] = [str(_("Tell us what happened."))]
            continue
        if name == "on_behalf_of" and not raw:
            errors[name] = [str(_("Say who you are raising the concern for."))]
            continue
        try:
            checked = fields[name].run_validation(raw)
        except ValidationError as refused:
            detail = refused.detail if isinstance(refused.detail, list) else [refused.detail]
            errors[name] = [str(m) for m in detail]
            continue
        # Stored as the form gives it (codes, "true"), so the whole can be checked again on sending.
        values[name] = sorted(raw) if isinstance(raw, list) else raw
        if name == "unit":
            values[name] = checked.code
    if step.slug == "contact" and not errors and not values.get("raiser_name"):
        errors["raiser_name"] = [str(_("Give your name, or go back and choose to stay anonymous."))]
    return values, errors


def answers_update(request: HttpRequest, *, answers: Answers, values: dict[str, Any]) -> Answers:
    updated = answers | values
    if not _for_others(updated):
        updated.pop("on_behalf_of", None)  # changed their answer to "who are you?"
    if updated.get("identity_mode") == IdentityMode.ANONYMOUS:
        # Chose anonymity after giving a name: the name and the contact are dropped, not kept unused.
        updated.pop("raiser_name", None)
        updated.pop("raiser_contact", None)
    _store(request, updated)
    return updated


def steps_applying(answers: Answers) -> list[Step]:
    return [step for step in STEPS if step.applies(answers)]


def step_unanswered(answers: Answers) -> Step | None:
    """The first question that applies and has not been answered yet."""
    for step in steps_applying(answers):
        if any(field not in answers for field in step.fields):
            return step  # an optional question left empty is answered: its field is there, empty
    return None


def step_after(step: Step, answers: Answers) -> Step | None:
    applying = steps_applying(answers)
    later = [s for s in applying if STEPS.index(s) > STEPS.index(step)]
    return later[0] if later else None


def step_before(step: Step, answers: Answers) -> Step | None:
    earlier = [s for s in steps_applying(answers) if STEPS.index(s) < STEPS.index(step)]
    return earlier[-1] if earlier else None


def whole_check(answers: Answers) -> ConcernRaiseInput:
    """Every answer checked together, as the API checks a concern; raises ValidationError."""
    form = ConcernRaiseInput(data={k: v for k, v in answers.items()})
    form.is_valid(raise_exception=True)
    return form


@dataclass(frozen=True)
class AnswerRow:
    question: str | Promise
    answer: str
    slug: str


def answer_rows(answers: Answers) -> list[AnswerRow]:
    """The answers in words, a row per question, for "check your answers"."""
    rows = []
    for step in steps_applying(answers):
        said = step_words(step, answers)
        words = dict(said.choices)
        if step.asks == "checkboxes":
            shown = ", ".join(str(words.get(v, v)) for v in answers.get(step.fields[0], []))
        elif step.asks == "not_to_handle":
            named = [str(words.get(v, v)) for v in answers.get("not_to_handle_roles", [])]
            named += [answers["not_to_handle"]] if answers.get("not_to_handle") else []
            shown = "\n".join(named) or str(_("Nobody named"))
        elif step.asks in ("radios", "select"):
            shown = str(words.get(answers.get(step.fields[0], ""), "")) or "Not given"
        elif step.asks == "contact":
            shown = "\n".join(str(answers.get(f, "")) for f in step.fields if answers.get(f))
        else:
            shown = str(answers.get(step.fields[0], "")) or str(_("Not given"))
        rows.append(AnswerRow(question=said.question, answer=shown, slug=step.slug))
    return rows

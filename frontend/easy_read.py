"""The easy-read words of raising a concern: short sentences, one idea a line, for patients, carers and
anyone who finds the standard pages hard going (people with a learning disability among them).

The questions, their order and what each answer means are the standard journey's (raise_journey.STEPS):
only the words differ, so an easy-read concern is the same concern, checked by the same rules. A step
with no easy words here is shown in the standard words. Words are data, as the steps are, and marked
for translation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class EasyWords:
    question: str | Promise
    lines: tuple[str | Promise, ...] = ()
    # Easier labels for some answers, by their value; the rest keep the standard label.
    choices: dict[str, str | Promise] = field(default_factory=dict)


START_LINES: tuple[str | Promise, ...] = (
    _("You can tell us when something is wrong in health or care."),
    _("For example, you were not treated well."),
    _("Or someone you look after was not safe."),
    _("We call this raising a concern."),
    _("We ask you one question on each page."),
    _("You do not have to give your name."),
    _("At the end you get a code. Keep the code safe."),
    _("You need the code to see what happens next."),
)

STEP_WORDS: dict[str, EasyWords] = {
    "who": EasyWords(
        _("Who are you?"),
        (_("Choose one answer."),),
        {
            "patient": _("I am a patient"),
            "carer": _("I look after someone, or I am family"),
            "public": _("I am someone else"),
            "staff": _("I work in health or care"),
            "representative": _("I speak for a group of people"),
        },
    ),
    "for-whom": EasyWords(_("Who do you speak for?"), (_("For example, the people who live in a care home."),)),
    "where": EasyWords(
        _("Where did it happen?"),
        (_("Choose the ward or team."), _("The people there will be told about your concern.")),
    ),
    "about": EasyWords(
        _("What is your concern about?"),
        (_("You can choose more than one answer."),),
        {
            "patient_safety": _("A patient was not safe or not looked after well"),
            "worker_safety": _("Staff were not safe or not well"),
            "bullying": _("Someone was bullied"),
            "behaviour": _("Someone was rude or unkind"),
            "other": _("Something else"),
        },
    ),
    "what-happened": EasyWords(
        _("What happened?"),
        (
            _("Tell us what you saw or heard."),
            _("Tell us why it worries you."),
            _("If you do not want to give your name, do not write it here."),
        ),
    ),
    "when": EasyWords(_("When did it happen?"), (_("You do not have to answer."), _("A rough idea is fine."))),
    "outcome": EasyWords(
        _("What would you like to happen?"), (_("You do not have to answer."), _("Tell us what would help."))
    ),
    "not-to-handle": EasyWords(
        _("Is there anyone who must not look at your concern?"),
        (
            _("You do not have to answer."),
            _("For example, the person your concern is about."),
            _("We will not give your concern to them."),
        ),
    ),
    "urgent": EasyWords(
        _("Is someone in danger now?"),
        (_("If someone is in danger now, call 999."), _("Tell us yes, and we tell the guardian straight away.")),
        {"true": _("Yes, someone may be hurt now"), "false": _("No")},
    ),
    "your-group": EasyWords(
        _("Which of these are you?"),
        (
            _("You do not have to answer."),
            _("We count how many people in each group raise a concern."),
            _("We never send your name."),
        ),
        {
            "patient": _("A patient"),
            "carer": _("A carer, or family"),
            "public": _("Someone else"),
            "volunteer": _("A volunteer"),
        },
    ),
    "name": EasyWords(
        _("Do you want to give your name?"),
        (_("You choose."),),
        {
            "named": _("Yes. The people who look at my concern can know my name."),
            "confidential": _("Only the guardian can know my name."),
            "anonymous": _("No. Nobody will know my name."),
        },
    ),
    "contact": EasyWords(
        _("Your name, and how we can talk to you"),
        (_("We only use this to talk to you about your concern."),),
    ),
}

RECEIPT_LINES: tuple[str | Promise, ...] = (
    _("We have your concern. Thank you."),
    _("Below is your code."),
    _("Write the code down, or print this page."),
    _("We show the code only once."),
    _("Use the code on the follow-up page to see what happens next."),
    _("If you lose the code, we cannot find your concern for you. You can raise a new concern."),
)

"""Every word a person reads on a page is marked for translation, so a Welsh or easy-read catalogue
can be added without touching code.

Two checks: ``makemessages`` runs clean over the product (xgettext prints no warning and Django's
template reader raises no error), and a lint walks every template under frontend/templates and names
file and line of any visible text left outside ``{% translate %}`` / ``{% blocktranslate %}``.
The lint reads templates with Django's own lexer, so template tags, variables and comments are
told apart exactly as Django tells them apart; only the HTML between them is parsed, with the
standard library's HTMLParser.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from html.parser import HTMLParser
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.template.base import DebugLexer, TokenType
from django.test import override_settings

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "frontend" / "templates"

# Words that stay as they are in every language, each with its reason.
ALLOWED_WORDS: dict[str, str] = {
    "NHS": "the NHS brand and logo's accessible name, never translated",
    "Candour": "the product's name, a brand",
}

# Attributes a person meets: read aloud by a screen reader, shown on hover, or shown in a field.
USER_FACING_ATTRIBUTES = frozenset({"aria-label", "title", "alt", "placeholder", "aria-description"})
# Elements whose text is code or styling, not words.
NON_TEXT_ELEMENTS = frozenset({"script", "style"})

# What stands in the HTML for a template tag or variable: no letters, so it is never flagged.
PLACEHOLDER = "\u2060"
LETTER = re.compile(r"[^\W\d_]")
# A literal handed to a filter that shows it in place of a value ({{ x|default:"None" }}): visible
# words unless wrapped as _("...").
# Blocks whose text is translated as a whole, or never shown: their end tag.
BLOCKS_NOT_SHOWN_AS_WRITTEN = {
    "blocktranslate": "endblocktranslate",
    "blocktrans": "endblocktrans",
    "comment": "endcomment",
    "verbatim": "endverbatim",
}
SHOWN_LITERAL = re.compile(r"\|(?:default|default_if_none|yesno):(?P<quote>[\"'])(?P<text>.*?)(?P=quote)")


@dataclass(frozen=True)
class Untranslated:
    path: Path
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}: {self.text!r}"


def _has_words(text: str) -> bool:
    for word in ALLOWED_WORDS:
        text = re.sub(rf"\b{re.escape(word)}\b", "", text)
    return bool(LETTER.search(text))


def _skeleton(source: str) -> tuple[str, list[tuple[int, str]]]:
    """The template's HTML with every tag, variable, comment and translated block replaced by
    letterless placeholders of the same length (newlines kept, so lines and offsets match the
    source); and the shown literals found in variables."""
    parts: list[str] = []
    literals: list[tuple[int, str]] = []
    closing: str | None = None  # the end tag of a block whose text is not shown as written
    for token in DebugLexer(source).tokenize():
        start, end = token.position
        written = source[start:end]
        raw = token.contents
        if token.token_type is TokenType.TEXT and closing is None:
            parts.append(written)
            continue
        parts.append(re.sub(r"[^\n]", PLACEHOLDER, written))
        if closing is not None:
            if token.token_type is TokenType.BLOCK and raw.split()[:1] == [closing]:
                closing = None
            continue
        if token.token_type is TokenType.BLOCK:
            name = raw.split()[0] if raw.split() else ""
            closing = BLOCKS_NOT_SHOWN_AS_WRITTEN.get(name)
        elif token.token_type is TokenType.VAR:
            for match in SHOWN_LITERAL.finditer(raw):
                if _has_words(match.group("text")):
                    literals.append((source.count("\n", 0, start) + 1, match.group("text")))
    return "".join(parts), literals


class _TextFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self._open_non_text = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in NON_TEXT_ELEMENTS:
            self._open_non_text += 1
        for name, value in attrs:
            if name in USER_FACING_ATTRIBUTES and value and _has_words(value):
                self.found.append((self.getpos()[0], f"{name}={value}"))
        # A button's words on an <input type="submit" value="...">.
        kinds = dict(attrs)
        if tag == "input" and kinds.get("type") in ("submit", "button", "reset"):
            value = kinds.get("value") or ""
            if _has_words(value):
                self.found.append((self.getpos()[0], f"value={value}"))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in NON_TEXT_ELEMENTS:
            self._open_non_text -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in NON_TEXT_ELEMENTS and self._open_non_text:
            self._open_non_text -= 1

    def handle_data(self, data: str) -> None:
        if self._open_non_text or not _has_words(data):
            return
        # The parser reports where the text node starts; name the line where the words are.
        first_letter = LETTER.search(data)
        line = self.getpos()[0] + data[: first_letter.start() if first_letter else 0].count("\n")
        shown = re.sub(f"{PLACEHOLDER}+", "{…}", " ".join(data.split()))
        self.found.append((line, shown))


def untranslated_text(path: Path) -> list[Untranslated]:
    skeleton, literals = _skeleton(path.read_text(encoding="utf-8"))
    finder = _TextFinder()
    finder.feed(skeleton)
    finder.close()
    found = finder.found + literals
    return [Untranslated(path, line, text) for line, text in sorted(found)]


def all_templates() -> list[Path]:
    return sorted(p for p in TEMPLATES.rglob("*") if p.suffix in (".html", ".txt"))


def test_the_lint_finds_words_left_outside_translation_tags(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(
        "{% load i18n %}\n"
        '<h1>{% translate "Your concern" %}</h1>\n'
        "<p>Reference {{ concern.reference }}</p>\n"
        '<a href="{% url \'frontend:home\' %}" aria-label="Go home">{% translate "Home" %}</a>\n'
        "{% blocktranslate trimmed with n=count %}\n  You have {{ n }} concerns\n{% endblocktranslate %}\n"
        '{# a note for the team #}<span class="nhsuk-tag">{{ state|default:"None" }}</span>\n'
        "<script>var words = 'not shown';</script><title>NHS</title> &ndash; {{ x }}\n",
        encoding="utf-8",
    )
    assert [(f.line, f.text) for f in untranslated_text(page)] == [
        (3, "Reference {…}"),
        (4, "aria-label=Go home"),
        (8, "None"),
    ]


def test_every_template_marks_its_words_for_translation() -> None:
    templates = all_templates()
    assert len(templates) > 40, "the lint walked too few templates: is the path right?"
    found = [finding for path in templates for finding in untranslated_text(path)]
    assert not found, "Visible text outside {% translate %} / {% blocktranslate %}:\n" + "\n".join(
        str(f) for f in found
    )


def test_every_template_that_translates_loads_i18n() -> None:
    missing = [
        str(path.relative_to(REPO))
        for path in all_templates()
        if re.search(r"{%\s*(translate|trans|blocktranslate|blocktrans)\b", path.read_text(encoding="utf-8"))
        and not re.search(r"{%\s*load\b[^%]*\bi18n\b", path.read_text(encoding="utf-8"))
    ]
    assert not missing, f"Templates that translate without {{% load i18n %}}: {missing}"


# The product's code, copied so makemessages writes its catalogue away from the checkout.
SOURCE_DIRS = ("frontend", "backend", "workflows", "notifications")


@pytest.fixture
def source_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in SOURCE_DIRS:
        shutil.copytree(
            REPO / name,
            tmp_path / name,
            ignore=shutil.ignore_patterns("node_modules", "static", "__pycache__", "locale", "*.pyc"),
        )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_makemessages_runs_clean_and_collects_the_pages_words(source_copy: Path) -> None:
    out, err = StringIO(), StringIO()
    locale = source_copy / "locale"
    with override_settings(LOCALE_PATHS=[str(locale)]):
        call_command("makemessages", locale=["cy"], no_wrap=True, verbosity=1, stdout=out, stderr=err)
    printed = "\n".join(
        line for line in (out.getvalue() + err.getvalue()).splitlines() if line != "processing locale cy"
    )
    assert printed == "", f"makemessages printed warnings or errors:\n{printed}"
    catalogue = (locale / "cy" / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")
    # Words from a page, from a view's message and from a form's error all reach the catalogue.
    for msgid in (
        "Sign out",
        "We could not find a concern for that receipt code. Check it and try again.",
        "Choose the ward or team your concern is about.",
    ):
        assert f'msgid "{msgid}"' in catalogue, msgid

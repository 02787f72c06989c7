"""The Jinja2 environment of the report and the messages, with French formatting from Babel.

Templates live in ``passerelle/report/templates/``: ``report.html.j2`` (and its parts), the CSS
and the script of the page, ``message.txt.j2`` (the text sent to a training body) and
``message_subject.txt.j2``.

Escaping: HTML templates autoescape; every value printed by ``{{ … }}`` goes through
:func:`_finalize`, which escapes text with ``html.escape(…, quote=True)`` (``&`` ``<`` ``>``
``"`` ``'``) and prints None as nothing; values that are already markup (``Markup``, e.g. the
output of a macro) pass as they are. Text templates (``*.txt.j2``) do not escape: they are
plain text, put into HTML only through an escaping template.

Filters and globals (French, ``fr_FR``, from Babel — CLDR data, no hand-written tables):

- ``n``: an integer with the French thousands separator (``12 345``, narrow no-break space);
- ``d``: ``dd/mm/yyyy``; ``dm``: ``dd/mm`` (``dd/mm/yyyy`` when not in the year of the run);
  ``long_date``: ``jeudi 19 novembre 2026``;
- ``plural(n, one, many)``: ``1 erreur`` / ``3 erreurs`` with the number formatted, by the
  French plural rule (0 and 1 are singular).
"""

from __future__ import annotations

import html
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

LOCALE = "fr_FR"
TEMPLATES = Path(__file__).with_name("templates")
_PLURAL = Locale.parse(LOCALE)


def n(value: Any) -> str:
    """Integer with French digit grouping; « – » when not a number."""
    try:
        return _grouped(int(value))
    except (TypeError, ValueError):
        return "–"


@lru_cache(maxsize=8192)
def _grouped(value: int) -> str:
    return format_decimal(value, locale=LOCALE)


def as_date(value: object) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def _fmt(value: date, pattern: str) -> str:
    return format_date(value, pattern, locale=LOCALE)


def d(value: object) -> str:
    """``dd/mm/yyyy`` (text that is not a date is given back as it is)."""
    day = as_date(value)
    if day is None:
        return "" if value is None else str(value)
    return _fmt(day, "dd/MM/yyyy")


def dm(value: object, year: int | None = None) -> str:
    """``dd/mm``, or ``dd/mm/yyyy`` when the date is not in ``year``."""
    day = as_date(value)
    if day is None:
        return ""
    return _fmt(day, "dd/MM" if year is None or day.year == year else "dd/MM/yyyy")


def long_date(value: object) -> str:
    day = as_date(value)
    return _fmt(day, "full") if day is not None else ""


def plural(count: Any, one: str, many: str) -> str:
    try:
        c = int(count)
    except (TypeError, ValueError):
        return f"– {many}"
    return f"{n(c)} {one if _PLURAL.plural_form(c) == 'one' else many}"


def _finalize(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, Markup) or hasattr(value, "__html__"):
        return value
    return Markup(html.escape(str(value), quote=True))


def _plain(value: object) -> object:
    return "" if value is None else value


@lru_cache(maxsize=2)
def environment(text: bool = False) -> Environment:
    """The HTML environment (autoescape, :func:`_finalize`), or with ``text`` the plain-text one."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=not text,
        finalize=_plain if text else _finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(n=n, d=d, dm=dm, long_date=long_date)
    env.globals.update(plural=plural)
    return env


def render(template: str, **context: object) -> str:
    """Render ``template``: ``*.txt.j2`` as plain text, anything else as escaped HTML."""
    return environment(text=template.endswith(".txt.j2")).get_template(template).render(**context)

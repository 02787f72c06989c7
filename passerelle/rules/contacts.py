"""Contact of the session (DQ009): name and phone required, phone French, mail valid if given.

Phones and mails are validated once per distinct value (cached), then mapped back to the rows.

A phone is accepted when, after removing its separators (spaces, no-break spaces, dots,
dashes), it is

- ``0`` + 9 digits, the second not ``0``: metropolitan numbers and the overseas départements
  dialled nationally (``0262``/``0692`` La Réunion, ``0269``/``0639`` Mayotte, ``0590``
  Guadeloupe, ``0594`` Guyane, ``0596`` Martinique...);
- ``+33`` + 9 digits, the first not ``0``;
- an overseas prefix ``+262 +269 +508 +590 +594 +596 +687 +689`` followed by a number of the
  length that territory uses (``phonenumbers.is_possible_number``: 9 digits for +262/+590/
  +594/+596, 6 for +508/+687, 8 for +689, 7 for +269; ``+269`` followed by a 9-digit Mayotte
  number, its former prefix, is read as ``+262``);

and nothing else (no ``00`` international prefix, no ``(0)``, no letters, no extension).

The rule is about the *shape* of the number, as the guides state it ("10 chiffres commençant
par 0, ou +33..."): whether a range is actually assigned (``is_valid_number``) is not asked,
because a number from a range newer than the library's metadata would otherwise withhold a
session that is fine.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pandas as pd
import phonenumbers
from email_validator import EmailNotValidError, validate_email

from passerelle.rules.common import combine, emit, nonempty, text

OVERSEAS_PREFIXES = ("262", "269", "508", "590", "594", "596", "687", "689")

# digits and separators (space, no-break space, dot, dash), optional leading +
_SHAPE = re.compile(r"\+?\d(?:[ \u00a0\u202f.\-]*\d)*")
_SEPARATORS = re.compile(r"[ \u00a0\u202f.\-]")
_NATIONAL = re.compile(r"0[1-9]\d{8}")
_PLUS_33 = re.compile(r"\+33[1-9]\d{8}")


def _possible(number: str, country_code: str) -> bool:
    """``number`` (international form) has country code ``country_code`` and a possible length."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return False
    return str(parsed.country_code) == country_code and phonenumbers.is_possible_number(parsed)


@lru_cache(maxsize=65536)
def is_valid_phone(raw: str) -> bool:
    """True when ``raw`` is a French phone number as the rule DQ009 describes."""
    value = raw.strip()
    if not _SHAPE.fullmatch(value):
        return False
    digits = _SEPARATORS.sub("", value)
    if digits.startswith("+33"):
        return bool(_PLUS_33.fullmatch(digits))
    if digits.startswith("+"):
        prefix = digits[1:4]
        if prefix not in OVERSEAS_PREFIXES:
            return False
        if _possible(digits, prefix):
            return True
        return prefix == "269" and len(digits) == 13 and _possible("+262" + digits[4:], "262")
    return bool(_NATIONAL.fullmatch(digits))


@lru_cache(maxsize=65536)
def is_valid_email(raw: str) -> bool:
    """True when ``raw`` is a syntactically valid mail address (no DNS lookup)."""
    try:
        validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _validate_distinct(values: pd.Series, validator) -> pd.Series:
    """``validator`` applied once per distinct non-null value, mapped back (null -> False)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    verdicts = np.fromiter((bool(validator(v)) for v in uniques), dtype=bool, count=len(uniques))
    out = np.zeros(len(values), dtype=bool)
    known = codes >= 0
    out[known] = verdicts[codes[known]]
    return pd.Series(out, index=values.index)


def check_contacts(sessions: pd.DataFrame) -> pd.DataFrame:
    """DQ009: contact name and phone present, phone French, mail valid when given."""
    s = sessions
    name = text(s["contact_name"]).str.strip()
    phone = text(s["contact_phone"]).str.strip()
    mail = text(s["contact_email"]).str.strip()
    has_name, has_phone, has_mail = nonempty(name), nonempty(phone), nonempty(mail)
    phone_ok = _validate_distinct(phone.where(has_phone), is_valid_phone)
    mail_ok = _validate_distinct(mail.where(has_mail), is_valid_email)
    return combine(
        [
            emit("DQ009", s, ~has_name, field="contact_name", variant="name_missing"),
            emit("DQ009", s, ~has_phone, field="contact_phone", variant="phone_missing"),
            emit("DQ009", s, has_phone & ~phone_ok, field="contact_phone", value=phone, variant="phone_invalid"),
            emit("DQ009", s, has_mail & ~mail_ok, field="contact_email", value=mail, variant="mail_invalid"),
        ]
    )

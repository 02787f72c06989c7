"""Write the LHEO sample extracts of the demo inbox (producer ``intercarif``), deterministically.

    python data/samples/generate_lheo.py

Derived from REAL Intercarif exports (LHEO 2.2, the Réseau des Carif-Oref's web service), the
four full offers of ``tests/data/lheo/trefle-*.xml`` (byte copies of
``../shared/reference/lheo/samples/``, provenance in its ``SOURCE.md``): Centre-Val de Loire's
« Titre professionnel plaquiste » (AFPA Veigné, 2 actions), Occitanie's DAEU A (Université de
Toulouse Jean Jaurès), OpenClassrooms' « Gestionnaire de paie (POEC) » and Île-de-France's
« paysan-boulanger » (5 financers). Their texts, codes, organisations, addresses and contacts
are kept as published; what changes:

- every date is moved by whole weeks (weekdays kept) so that each formation's first session
  starts in early 2027, after the demo days (``periode``, ``periode-inscription``,
  ``date-information``, the validity dates of the CPF ``extras``); ``datecrea`` / ``datemaj``
  move with them but never after the day of the file;
- a few sessions are derived from the real ones (the next intake of an action: a copy moved by
  whole weeks), one of them with a planted defect;
- the files are one catalogue (``<lheo><offres>`` with the four formations), re-indented.

Writes, next to this script:

- ``lheo_intercarif_20261119.xml``     day 1
- ``lheo_intercarif_20261120.xml.gz``  day 2 = day 1 + changes, gzipped (as Intercarif may send)

and rewrites the ``## LHEO`` section of ``DEFECTS.md`` (the other sections are left as they are)
with the planted defects, the real ones the rules catch, and the day-2 changes, each with its
line. Needs lxml (a dependency of the project).
"""

from __future__ import annotations

import copy
import gzip
import io
import sys
from datetime import date, timedelta
from pathlib import Path

from lxml import etree

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SOURCES = ROOT / "tests" / "data" / "lheo"
NS = "http://www.lheo.org/2.2"
PRODUCER = "intercarif"
DAY1, DAY2 = date(2026, 11, 19), date(2026, 11, 20)
NAME1 = f"lheo_{PRODUCER}_{DAY1:%Y%m%d}.xml"
NAME2 = f"lheo_{PRODUCER}_{DAY2:%Y%m%d}.xml.gz"

# real file -> the Monday on or after which its first session starts once moved
FILES = {
    "trefle-formation.xml": date(2027, 1, 4),
    "trefle-daeu.xml": date(2027, 2, 1),
    "trefle-poec.xml": date(2027, 1, 11),
    "trefle-wrong_code_financeur_16.xml": date(2027, 3, 1),
}

# sessions (producer numeros) the scenario works on
PLAQUISTE = "114782"  # action 07_114782, fixed entries: the session modified on day 2
PLAQUISTE_NEXT = "131577"  # its next intake (derived): planted DQ006
DAEU = "927411"  # real: no contact person anywhere in the export (DQ009)
POEC = "197649"  # action 24_1390142: repeated by its next intake on day 1
POEC_NEXT = "197650"  # the next intake's own numero, given on day 2
BOULANGER = "74056"  # action 04_74056: gone from the day-2 file (DQ022)

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=True)


def q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _day(text: str | None) -> date | None:
    """An LHEO ``AAAAMMJJ`` that is a real day (not 00000000, 99999999 nor a partial date)."""
    t = (text or "").strip()
    if len(t) != 8 or not t.isdigit():
        return None
    try:
        return date(int(t[:4]), int(t[4:6]), int(t[6:]))
    except ValueError:
        return None


def _lheo(d: date) -> str:
    return f"{d:%Y%m%d}"


# (``periode`` of a session and of its ``periode-inscription``)
DATED = (f"{q('periode')}/{q('debut')}", f"{q('periode')}/{q('fin')}", f"{q('date-information')}/{q('date')}")


def shift(el, days: int, today: date) -> None:
    """Every date under ``el`` moved by ``days``; ``datecrea``/``datemaj`` not after ``today``."""
    for path in DATED:
        for node in el.iterfind(".//" + path):
            d = _day(node.text)
            if d is not None:
                node.text = _lheo(d + timedelta(days=days))
    for node in el.iter(q("extra")):
        valid = _day(node.text) if node.get("info") in ("debut-validite", "fin-validite") else None
        if valid is not None:
            node.text = _lheo(valid + timedelta(days=days))
    for node in el.iter(q("formation"), q("action"), q("session")):
        crea = _day(node.get("datecrea"))
        maj = _day(node.get("datemaj"))
        if maj is not None:
            maj = min(maj + timedelta(days=days), today - timedelta(days=1))
            node.set("datemaj", _lheo(maj))
        if crea is not None:
            crea = min(crea + timedelta(days=days), maj or today - timedelta(days=1))
            node.set("datecrea", _lheo(crea))


def first_start(formation) -> date:
    starts = [_day(d.text) for d in formation.iterfind(f".//{q('session')}/{q('periode')}/{q('debut')}")]
    return min(d for d in starts if d)


def real_formations(today: date) -> list:
    """The four real formations, each moved by whole weeks to its first Monday of :data:`FILES`."""
    out = []
    for name, target in FILES.items():
        root = etree.parse(str(SOURCES / name), _PARSER).getroot()
        assert root.tag == q("lheo"), name
        (formation,) = root.iterfind(f"{q('offres')}/{q('formation')}")
        weeks = -(-(target - first_start(formation)).days // 7)
        shift(formation, weeks * 7, today)
        out.append(formation)
    return out


def session(formations: list, numero: str):
    return next(s for f in formations for s in f.iter(q("session")) if s.get("numero") == numero)


def next_intake(original, numero: str, weeks: int, today: date):
    """A copy of ``original`` moved by ``weeks``, inserted after it (the producer's next intake)."""
    twin = copy.deepcopy(original)
    twin.set("numero", numero)
    shift(twin, weeks * 7, today)
    for attr in ("datecrea", "datemaj"):  # a session the producer created lately
        if twin.get(attr) is not None:
            twin.set(attr, _lheo(today - timedelta(days=1)))
    original.addnext(twin)
    return twin


def set_period(s, start: date | None = None, end: date | None = None) -> None:
    if start is not None:
        s.find(f"{q('periode')}/{q('debut')}").text = _lheo(start)
    if end is not None:
        s.find(f"{q('periode')}/{q('fin')}").text = _lheo(end)


def period(s) -> tuple[date, date]:
    start, end = _day(s.findtext(f"{q('periode')}/{q('debut')}")), _day(s.findtext(f"{q('periode')}/{q('fin')}"))
    assert start is not None and end is not None, s.get("numero")
    return start, end


def build(day: date) -> etree._Element:
    # datecrea / datemaj as of day 1 (unchanged records keep them on day 2)
    formations = real_formations(DAY1)
    # the plaquiste's next intake, 26 weeks later; its end typed one year too early (planted DQ006)
    plaquiste_next = next_intake(session(formations, PLAQUISTE), PLAQUISTE_NEXT, 26, DAY1)
    start, end = period(plaquiste_next)
    set_period(plaquiste_next, end=end.replace(year=end.year - 1))
    # the POEC's next intake, 13 weeks later: copied without a numero of its own on day 1 (planted
    # repeated numero); the producer gives it one on day 2
    next_intake(session(formations, POEC), POEC if day == DAY1 else POEC_NEXT, 13, DAY1)
    if day == DAY2:
        # postponed by one week
        s = session(formations, PLAQUISTE)
        start, end = period(s)
        set_period(s, start + timedelta(days=7), end + timedelta(days=7))
        s.set("datemaj", _lheo(day - timedelta(days=1)))
        # the paysan-boulanger formation (its only session) is no longer in the export
        formations = [f for f in formations if not any(s.get("numero") == BOULANGER for s in f.iter(q("session")))]
    root = etree.Element(q("lheo"), nsmap={None: NS})
    offres = etree.SubElement(root, q("offres"))
    offres.extend(formations)
    etree.indent(root, space="  ")
    return root


def serialise(root) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def write(day: date, data: bytes) -> Path:
    if day == DAY1:
        path = HERE / NAME1
        path.write_bytes(data)
    else:
        path = HERE / NAME2
        buf = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz:  # reproducible bytes
            gz.write(data)
        path.write_bytes(buf.getvalue())
    return path


def lines_of(data: bytes) -> dict[str, list[int]]:
    """Session numero -> the lines of its ``<session`` start tags in ``data``."""
    root = etree.fromstring(data, _PARSER)
    out: dict[str, list[int]] = {}
    for s in root.iter(q("session")):
        out.setdefault(s.get("numero"), []).append(s.sourceline)
    return out


def defects_section(d1: bytes, d2: bytes) -> str:
    l1, l2 = lines_of(d1), lines_of(d2)
    r1, r2 = etree.fromstring(d1, _PARSER), etree.fromstring(d2, _PARSER)

    def when(root, numero: str) -> str:
        s = next(x for x in root.iter(q("session")) if x.get("numero") == numero)
        a, b = period(s)
        return f"{a:%d/%m/%Y} - {b:%d/%m/%Y}"

    k = f"lheo:{PRODUCER}:"
    n1, n2 = sum(len(v) for v in l1.values()), sum(len(v) for v in l2.values())
    rows1 = [
        (f"{k}{PLAQUISTE_NEXT}", NAME1, l1[PLAQUISTE_NEXT][0], "DQ006",
         f"planted: next intake of {PLAQUISTE} (derived, 26 weeks later), its end typed one year too early "
         f"({when(r1, PLAQUISTE_NEXT)})"),
        (f"{k}{POEC}", NAME1, ", ".join(map(str, l1[POEC])), "DQ000",
         f"planted: the POEC's next intake (derived, 13 weeks later) copied with the numero {POEC} of the "
         "session it was copied from; the two differ, so both are quarantined (error naming both lines)"),
        (f"{k}{DAEU}", NAME1, l1[DAEU][0], "DQ009",
         "real (not planted): the export gives no contact person (only a mail for the formation and a phone "
         "for the organisation): name missing, quarantined"),
    ]  # fmt: skip
    rows2 = [
        (f"{k}{PLAQUISTE}", NAME2, l2[PLAQUISTE][0], "— (update)", f"postponed by one week: {when(r2, PLAQUISTE)}"),
        (f"{k}{BOULANGER}", NAME2, "—", "DQ022",
         "the paysan-boulanger formation and its only session are no longer in the export (no cancellation): "
         "vanished, kept during the grace period"),
        (f"{k}{POEC_NEXT}", NAME2, l2[POEC_NEXT][0], "— (new)",
         f"the next intake gets its own numero ({when(r2, POEC_NEXT)}): the repeated numero is resolved"),
        (f"{k}{POEC}", NAME2, l2[POEC][0], "— (new)",
         "no longer repeated: published for the first time"),
    ]  # fmt: skip
    head = "| session key | file | line | expected rule | what |\n|---|---|---|---|---|\n"
    table1 = head + "".join(f"| `{a}` | `{b}` | {c} | {d} | {e} |\n" for a, b, c, d, e in rows1)
    table2 = head + "".join(f"| `{a}` | `{b}` | {c} | {d} | {e} |\n" for a, b, c, d, e in rows2)
    return (
        "## LHEO\n\n"
        "Generated by `data/samples/generate_lheo.py` (do not edit by hand: rerun the script) from the four real "
        "Intercarif exports of `tests/data/lheo/trefle-*.xml` (4 formations, 5 actions), dates moved by whole weeks "
        f"into 2027. Day 1 `{NAME1}`: {n1} sessions; day 2 `{NAME2}` (gzipped): {n2} sessions. Line = line of the "
        "`<session` start tag in the (decompressed) file. The formations are valid LHEO (no schema finding). Real, "
        "not planted, on both days: DQ000 infos (2 texts in HTML; actions `15_927411` and `04_74056` whose financers "
        "give no places) and, once the POEC sessions are read (day 2), DQ025 warnings: OpenClassrooms' SIRET is "
        "named « Openclassrooms » by the action and « Openclassrooms - OC » by the responsible body.\n\n"
        f"### Day 1 ({DAY1.isoformat()})\n\n"
        + table1
        + f"\nClean: `{k}{PLAQUISTE}` (fixed entries), `{k}123324` (permanent entries, Région places), "
        f"`{k}{BOULANGER}` (permanent entries, 5 financers without places).\n\n"
        f"### Day 2 ({DAY2.isoformat()}): changes against day 1\n\n"
        + table2
        + "\nThe planted DQ006 and the real DQ009 are still there on day 2.\n"
    )


def update_defects_md(section: str) -> None:
    path = HERE / "DEFECTS.md"
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == "## LHEO"), None)
    if start is None:
        new = text.rstrip("\n") + "\n\n" + section
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        tail = "".join(lines[end:])
        new = "".join(lines[:start]) + section + ("\n" + tail if tail else "")
    path.write_text(new, encoding="utf-8")


def main() -> int:
    d1, d2 = serialise(build(DAY1)), serialise(build(DAY2))
    write(DAY1, d1)
    write(DAY2, d2)
    update_defects_md(defects_section(d1, d2))
    print(f"LHEO samples written: {NAME1}, {NAME2}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

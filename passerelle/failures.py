"""French causes of a failed run, precise enough to act on without opening Dagster.

Plain Python (no Dagster import): :mod:`pipelines.alerting` gives it what a failed step raised
(class name, message, the formatted stack) or what a failed blocking check recorded, and the CLI,
the alert file and the mail print the line it returns.

- :func:`exception_cause`: the kind of failure (disk full, permission refused, read-only file
  system, missing file, database unreachable, an internal error, i.e. a bug) with the file or
  path it names, and, for an internal error, where in our code it was raised (file, line,
  function);
- :func:`feed_check_cause`: for a feed that its blocking validity check stopped, the feed file,
  the line, the element, the value, the record and the validator's message of its first errors.
"""

from __future__ import annotations

import errno
import re

ERRNO_FR = {
    errno.ENOSPC: "disque plein",
    errno.EDQUOT: "quota disque dépassé",
    errno.EACCES: "permission refusée",
    errno.EPERM: "opération non permise",
    errno.EROFS: "système de fichiers en lecture seule",
    errno.ENOENT: "fichier ou dossier introuvable",
    errno.EIO: "erreur d'entrée-sortie du disque",
    errno.EMFILE: "trop de fichiers ouverts",
    errno.ENOTDIR: "un élément du chemin n'est pas un dossier",
    errno.EISDIR: "un dossier à la place d'un fichier",
}
_ERRNO = re.compile(r"\[Errno (\d+)\] [^:]*(?::\s*(?P<path>.+))?$")
_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)')
_DB_CLASSES = ("OperationalError", "InterfaceError", "StoreError", "DatabaseError")
_OS_CLASSES = (
    "OSError",
    "PermissionError",
    "FileNotFoundError",
    "IsADirectoryError",
    "NotADirectoryError",
    "FileExistsError",
    "IOError",
)
_OUR_CODE = re.compile(r"(?:^|/)(passerelle|assets|pipelines)/")


def our_frame(stack: list[str] | None) -> str | None:
    """« passerelle/rules/dates.py, ligne 42, dans check_periods »: the innermost frame of our
    code in a formatted stack (``traceback.format_tb`` lines), or None."""
    found = None
    for entry in stack or []:
        for m in _FRAME.finditer(entry):
            path = m["file"].replace("\\", "/")
            mark = _OUR_CODE.search(path)
            if mark:
                found = f"{path[mark.start(1) :]}, ligne {m['line']}, dans {m['func']}"
    return found


def exception_cause(cls_name: str | None, message: str, stack: list[str] | None = None) -> str:
    """One French line naming the cause of an exception raised by a step."""
    cls = cls_name or "Exception"
    text = " ".join(line.strip() for line in (message or "").strip().splitlines() if line.strip())
    text = re.sub(rf"^[\w.]*{re.escape(cls)}: ", "", text)
    m = _ERRNO.search(text)
    if m and (cls in _OS_CLASSES or cls.endswith("Error")):
        code = int(m.group(1))
        label = ERRNO_FR.get(code, f"erreur système {errno.errorcode.get(code, code)}")
        path = (m["path"] or "").strip().strip("'\"")
        where = f" sur « {path} »" if path else ""
        return f"{label}{where} ({cls} : {text})"
    if cls in _DB_CLASSES or "psycopg" in text or "could not connect" in text.lower():
        return f"base de données injoignable ou en erreur ({cls}) : {text}"
    ours = _french(text)  # our own errors are in French and already say what to do
    if cls == "KeyError":
        text = f"clé absente {text}"
    elif text and not re.search(r"[A-Za-z]{3}", text):  # IndexError(3)... say more
        text = f"valeur {text}"
    frame = our_frame(stack)
    if ours:
        return text + (f" ({frame})" if frame and cls not in ("RuntimeError", "ValueError") else "")
    return (
        f"erreur interne {cls} : {text or '(sans message)'}"
        + (f" — {frame}" if frame else "")
        + " ; à signaler à l'équipe Passerelle avec ce message"
    )


def _french(text: str) -> bool:
    return bool(re.search(r"[éèàù]|\b(le|la|les|du|des|est|pas|une?)\b", text))


def feed_check_cause(
    path: str, errors: list[str], records: dict[int, tuple[str, str]] | None = None, limit: int = 3
) -> str:
    """« flux pole-emploi/offres-2026-11-19.xml invalide : ligne 12, élément « extra », valeur
    « 23X00003 » (session sigma:…) : <message> » for the first ``limit`` errors."""
    from passerelle.feeds.withhold import parse_error

    parts = []
    for raw in errors[:limit]:
        e = parse_error(raw)
        if e is None:
            parts.append(raw)
            continue
        bits = [f"ligne {e['line']}"]
        if e["element"]:
            bits.append(f"élément « {e['element']} »")
        if e["value"] is not None:
            bits.append(f"valeur « {e['value']} »")
        record = (records or {}).get(e["line"])
        if record:
            bits.append(f"{record[0]} {record[1]}")
        schema = "XSD officiel LHEO 2.3" if e["official"] else "profil"
        parts.append(f"{', '.join(bits)} ({schema}) : {e['message']}")
    more = f" ; et {len(errors) - limit} autre(s) erreur(s)" if len(errors) > limit else ""
    return f"flux {path} invalide : " + " ; ".join(parts) + more

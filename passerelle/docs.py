"""Generate the rules page ``docs/rules.md`` from the rule registry.

    python -m passerelle.docs             # writes docs/rules.md (relative to the current directory)
    python -m passerelle.docs --out PATH  # writes PATH
    python -m passerelle.docs --check     # exit 1 when the page is not up to date

The page is in French (it is read by Carif staff) and generated only from
``passerelle.rules.registry``: change a rule there, then regenerate.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from passerelle.rules.registry import APPLIES_TO_LABELS, RULES, SEVERITY_LABELS, Rule

DEFAULT_OUT = Path("docs/rules.md")

SCOPE_LABELS = {
    "session": "la session",
    "file": "le fichier d'extrait",
    "feed": "le flux publié",
    "event": "l'événement (et sa session)",
    "formation": "l'action du marché (SAM)",
}

INTRO = """\
Chaque règle a un identifiant stable, repris dans `issues.csv` et dans le rapport qualité.

- **erreur** : la session n'est publiée à aucun destinataire ce jour-là ; elle figure dans le
  rapport avec la correction à faire. Si elle avait déjà été publiée, les destinataires gardent
  sa dernière version correcte.
- **avertissement** : la session est publiée ; le constat figure dans le rapport.
- **information** : constat seulement.

Les sessions encore en saisie (EOS « A finaliser », SIGMA « En attente d'émission ») ne sont
contrôlées en entier qu'une fois transmises : d'ici là elles ne reçoivent que DQ018 (et DQ003,
DQ004, DQ020). Dans les messages, « {field} » est le nom de la colonne dans l'extrait et
{value} la valeur lue.
"""


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render_rules_page(rules: tuple[Rule, ...] = RULES) -> str:
    """The Markdown text of the rules page."""
    lines = [
        "# Règles de qualité des données",
        "",
        "<!-- Généré par `python -m passerelle.docs` depuis `passerelle/rules/registry.py` :",
        "     ne pas modifier à la main. -->",
        "",
        INTRO.rstrip(),
        "",
        "| Règle | Gravité | Titre | Correction à demander | Origine |",
        "|---|---|---|---|---|",
    ]
    for r in rules:
        lines.append(
            f"| {r.id} | {SEVERITY_LABELS.get(r.severity, r.severity)} | {_cell(r.title)} | {_cell(r.fix)} "
            f"| {_cell(r.origin)} |"
        )
    lines += ["", "## Messages", ""]
    for r in rules:
        lines += [f"### {r.id} — {r.title}", ""]
        lines.append(f"- Gravité : {SEVERITY_LABELS.get(r.severity, r.severity)}")
        lines.append(f"- Porte sur : {SCOPE_LABELS.get(r.scope, r.scope)}")
        if r.applies_to != "other":
            lines.append(f"- Sessions contrôlées : {APPLIES_TO_LABELS[r.applies_to]}")
        lines.append(f"- Origine : {' '.join(r.origin.split())}")
        lines.append(f"- Correction : {' '.join(r.fix.split())}")
        if r.variants:
            lines.append("- Messages :")
            for name, template in r.variants:
                lines.append(f"  - `{name}` : {template}")
        else:
            lines.append(f"- Message : {r.message}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m passerelle.docs", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="page to write (default docs/rules.md)")
    parser.add_argument("--check", action="store_true", help="only check that the page is up to date")
    args = parser.parse_args(argv)
    page = render_rules_page()
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else None
        if current != page:
            print(f"{args.out} is not up to date: run python -m passerelle.docs", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(page, encoding="utf-8", newline="\n")
    print(f"wrote {args.out} ({len(RULES)} rules)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

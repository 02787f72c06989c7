"""Build the official address reference under ``data/reference/`` (``make reference``).

Inputs, two official packages of the npm registry (``npm pack`` downloads their tarball; no
Node module is installed and nothing runs in Node):

- ``@etalab/decoupage-administratif`` (data.gouv.fr): ``data/communes.json``, the communes of
  the INSEE Code officiel géographique of the year (communes actuelles, arrondissements
  municipaux, communes déléguées and associées, former codes) with their département, région
  and postcodes (La Poste, base officielle des codes postaux);
- ``codes-postaux`` (Base Adresse Nationale): ``codes-postaux-full.json``, every postcode used
  in each commune (COG + DGFiP FIMOCT, i.e. what addresses really carry) with its libellé
  d'acheminement (the town line La Poste prints, often a former commune's name).

Outputs (deterministic: same inputs, same bytes):

- ``cog_communes.csv.gz``: every commune code a source may carry (``kind`` commune,
  arrondissement, deleguee, associee, ancien) with its official ``name``, the code the lookup
  ``resolved`` it to (the commune actuelle for delegated, associated and former codes; the code
  itself for communes and arrondissements), its ``commune`` actuelle, ``departement``, ``region``;
- ``cog_postcodes.csv.gz``: one row per (postcode, resolved code, matching key): the names a
  city may be written under at that postcode, ``tier`` 1 official name (for an arrondissement,
  also its city's name), 2 libellé d'acheminement, 3 other names (commune déléguée or
  associée, commune merged since the postcodes package was built, official name without its
  bracketed part: ``Château-Chinon``); ``label`` the name as written by the source;
- ``cog_areas.csv.gz``: régions and départements (codes, names; the région of each département);
- ``versions.json`` (packages, versions, integrity, dates, licences, row counts and sha256 of
  the tables; read by the lookup and the tests) and ``SOURCE.md`` (the same, for people).

Usage::

    python scripts/build_reference.py                       # latest versions from the registry
    python scripts/build_reference.py --decoupage 6.0.0 --codes-postaux 4.1.2
    python scripts/build_reference.py --tarballs DIR        # offline: tarballs already packed
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import jinja2
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from passerelle.reference.names import match_keys  # noqa: E402

DECOUPAGE = "@etalab/decoupage-administratif"
CODES_POSTAUX = "codes-postaux"
OUT = ROOT / "data" / "reference"
TEMPLATE = Path(__file__).resolve().parent / "templates" / "reference_source.md.j2"

KIND = {
    "commune-actuelle": "commune",
    "arrondissement-municipal": "arrondissement",
    "commune-deleguee": "deleguee",
    "commune-associee": "associee",
}
TIER_OFFICIAL, TIER_ACHEMINEMENT, TIER_OTHER = 1, 2, 3

# Former codes the package does not list: Saint-Barthélemy and Saint-Martin left Guadeloupe on
# 15 July 2007 (INSEE COG, « changement de code »: 97123 -> 97701, 97127 -> 97801); extracts
# and the current DQ015 rule still meet the former ones.
EXTRA_FORMER_CODES = {"97123": "97701", "97127": "97801"}

COMMUNE_COLUMNS = ["code", "kind", "name", "resolved", "commune", "departement", "region"]
POSTCODE_COLUMNS = ["postcode", "insee_code", "tier", "match_name", "label"]
AREA_COLUMNS = ["level", "code", "name", "region"]


# --- fetching the packages -----------------------------------------------------------------------


def npm_pack(package: str, version: str | None, into: Path) -> dict:
    """``npm pack`` one package into ``into``; its metadata (version, integrity, file, date)."""
    spec = f"{package}@{version}" if version else package
    out = subprocess.run(
        ["npm", "pack", "--json", "--silent", spec], cwd=into, check=True, capture_output=True, text=True
    ).stdout
    meta = json.loads(out)[0]
    times = json.loads(
        subprocess.run(
            ["npm", "view", f"{package}@{meta['version']}", "time", "--json"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        or "{}"
    )
    return {
        "name": package,
        "version": meta["version"],
        "integrity": meta["integrity"],
        "tarball": meta["filename"],
        "published": times.get(meta["version"], "")[:10],
    }


def local_tarball(package: str, folder: Path) -> dict:
    """Metadata of a tarball already packed in ``folder`` (offline rebuild)."""
    stem = package.lstrip("@").replace("/", "-")
    found = sorted(folder.glob(f"{stem}-[0-9]*.tgz"))
    if not found:
        raise SystemExit(f"no {stem}-<version>.tgz in {folder}")
    path = found[-1]
    digest = base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()
    with tarfile.open(path) as tar:
        manifest = tar.extractfile("package/package.json")
        if manifest is None:
            raise SystemExit(f"{path.name}: package/package.json is not a file")
        version = json.load(manifest)["version"]
    return {"name": package, "version": version, "integrity": f"sha512-{digest}", "tarball": path.name, "published": ""}


def unpack(tarball: Path, into: Path) -> Path:
    with tarfile.open(tarball) as tar:
        tar.extractall(into, filter="data")
    return into / "package"


# --- the tables ----------------------------------------------------------------------------------


def communes_table(communes: list[dict]) -> pd.DataFrame:
    """Every commune code a source may carry, and what it resolves to."""
    current = {e["code"]: e for e in communes if e["type"] in ("commune-actuelle", "arrondissement-municipal")}
    rows = []
    for e in current.values():
        arr = e["type"] == "arrondissement-municipal"
        rows.append(
            (
                e["code"],
                KIND[e["type"]],
                e["nom"],
                e["code"],
                e["commune"] if arr else e["code"],
                e["departement"],
                e["region"],
            )
        )
    for e in communes:
        if e["type"] in ("commune-deleguee", "commune-associee") and e["code"] not in current:
            chef = current[e["chefLieu"]]
            rows.append(
                (e["code"], KIND[e["type"]], e["nom"], chef["code"], chef["code"], chef["departement"], chef["region"])
            )
    known = {r[0] for r in rows}
    for e in current.values():
        for old in e.get("anciensCodes", []):
            if old not in known:
                known.add(old)
                rows.append((old, "ancien", "", e["code"], e["code"], e["departement"], e["region"]))
    for old, new in EXTRA_FORMER_CODES.items():
        if old not in known and new in current:
            e = current[new]
            rows.append((old, "ancien", "", e["code"], e["code"], e["departement"], e["region"]))
    return pd.DataFrame(rows, columns=COMMUNE_COLUMNS).sort_values("code", kind="stable", ignore_index=True)


def postcodes_table(communes: list[dict], cog: pd.DataFrame, laposte: list[dict]) -> tuple[pd.DataFrame, dict]:
    """The names a city may be written under at each postcode (see the module docstring)."""
    resolved = dict(zip(cog["code"], cog["resolved"]))
    name_of = dict(zip(cog["code"], cog["name"]))
    kind_of = dict(zip(cog["code"], cog["kind"]))
    parent = {e["code"]: e["commune"] for e in communes if e["type"] == "arrondissement-municipal"}
    stats = {"codes_postaux_rows": len(laposte), "codes_postaux_unknown_codes": 0}

    pairs: set[tuple[str, str]] = set()
    for e in communes:
        if e["type"] in ("commune-actuelle", "arrondissement-municipal"):
            pairs.update((p, e["code"]) for p in e.get("codesPostaux", []))
    names: list[tuple[str, str, int, str]] = []  # (postcode, resolved code, tier, label)
    for e in laposte:
        code = e.get("codeAncienneCommune") or e["codeCommune"]
        target = resolved.get(code) or resolved.get(e["codeCommune"])
        if target is None:
            stats["codes_postaux_unknown_codes"] += 1
            continue
        pairs.add((e["codePostal"], target))
        names.append((e["codePostal"], target, TIER_ACHEMINEMENT, e["libelleAcheminement"]))
        if kind_of.get(code) != "commune" and kind_of.get(code) != "arrondissement":
            former = name_of.get(code) or e.get("nomCommune", "")
            names.append((e["codePostal"], target, TIER_OTHER, former))
    # a city with arrondissements is served through them: a postcode serving one of its
    # arrondissements designates that arrondissement (or the city when it serves several)
    with_arr = {(p, parent[c]) for p, c in pairs if c in parent}
    pairs = {(p, c) for p, c in pairs if (p, c) not in with_arr}
    served_by: dict[str, set[str]] = {}
    for p, c in pairs:
        served_by.setdefault(c, set()).add(p)
    for p, c in sorted(pairs):
        names.append((p, c, TIER_OFFICIAL, name_of[c]))
        if c in parent:
            names.append((p, c, TIER_OFFICIAL, name_of[parent[c]]))
        short = re.sub(r"\s*\([^)]*\)\s*$", "", name_of[c])
        if short != name_of[c]:  # « Château-Chinon (Ville) » is also written « Château-Chinon »
            names.append((p, c, TIER_OTHER, short))
    for code, kind in kind_of.items():
        if kind in ("deleguee", "associee") and name_of[code]:
            target = resolved[code]
            names.extend((p, target, TIER_OTHER, name_of[code]) for p in served_by.get(target, ()))

    table = pd.DataFrame(names, columns=["postcode", "insee_code", "tier", "label"])
    serving = pd.DataFrame(sorted(pairs), columns=["postcode", "insee_code"])
    table = table.merge(serving, on=["postcode", "insee_code"], how="inner")  # every row is a serving pair
    key, _ = match_keys(table["label"])
    table["match_name"] = key.astype(object).where(key.notna(), None)
    table = table.dropna(subset=["match_name"])
    table = table.sort_values(["postcode", "insee_code", "match_name", "tier", "label"], kind="stable").drop_duplicates(
        ["postcode", "insee_code", "match_name"], keep="first"
    )
    stats["pairs"] = len(pairs)
    return table[POSTCODE_COLUMNS].reset_index(drop=True), stats


# --- writing -------------------------------------------------------------------------------------


def areas_table(regions: list[dict], departements: list[dict]) -> pd.DataFrame:
    """Régions and départements (and overseas collectivities, as the package lists them): names."""
    rows = [("region", r["code"], r["nom"], r["code"]) for r in regions]
    rows += [("departement", d["code"], d["nom"], d["region"]) for d in departements]
    return pd.DataFrame(rows, columns=AREA_COLUMNS).sort_values(["level", "code"], ignore_index=True)


def write_csv_gz(df: pd.DataFrame, path: Path) -> str:
    """Deterministic gzipped CSV (UTF-8, ``,``, LF, no gzip timestamp); its sha256."""
    raw = df.to_csv(index=False, lineterminator="\n").encode("utf-8")
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(raw)
    data = buf.getvalue()
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def build(decoupage_dir: Path, codes_postaux_dir: Path, packages: list[dict], out: Path) -> dict:
    communes = json.loads((decoupage_dir / "data" / "communes.json").read_text("utf-8"))
    laposte = json.loads((codes_postaux_dir / "codes-postaux-full.json").read_text("utf-8"))
    seen, distinct = set(), []
    for e in laposte:  # the full file repeats a commune for each street: keep its distinct rows
        k = (
            e["codePostal"],
            e["codeCommune"],
            e.get("codeAncienneCommune"),
            e["libelleAcheminement"],
            e.get("nomCommune"),
        )
        if k not in seen:
            seen.add(k)
            distinct.append(e)
    cog = communes_table(communes)
    areas = areas_table(
        json.loads((decoupage_dir / "data" / "regions.json").read_text("utf-8")),
        json.loads((decoupage_dir / "data" / "departements.json").read_text("utf-8")),
    )
    postcodes, stats = postcodes_table(communes, cog, distinct)
    stats["codes_postaux_rows"] = len(laposte)
    for pkg, folder in zip(packages, (decoupage_dir, codes_postaux_dir)):
        manifest = json.loads((folder / "package.json").read_text("utf-8"))
        pkg["licence_code"] = manifest.get("license", "")
        pkg["repository"] = manifest.get("repository", "")
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, df in (("cog_communes.csv.gz", cog), ("cog_postcodes.csv.gz", postcodes), ("cog_areas.csv.gz", areas)):
        files[name] = {"rows": len(df), "sha256": write_csv_gz(df, out / name)}
    versions = {
        "packages": {p["name"]: p for p in packages},
        "files": files,
        "stats": stats,
    }
    versions["packages"][DECOUPAGE].update(
        upstream="INSEE, Code officiel géographique (communes, arrondissements municipaux, communes déléguées "
        "et associées, départements, régions) et La Poste, base officielle des codes postaux",
        cog_year=_cog_year(packages[0]["version"], decoupage_dir),
        licence_data="Licence Ouverte / Open Licence (Etalab) ; code MIT",
    )
    versions["packages"][CODES_POSTAUX].update(
        upstream="INSEE, Code officiel géographique et DGFiP, FIMOCT (codes postaux et libellés "
        "d'acheminement par commune et par voie)",
        licence_data="MIT (fichier produit par la Base Adresse Nationale à partir de données sous Licence Ouverte)",
    )
    (out / "versions.json").write_text(
        json.dumps(versions, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE.parent),
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    (out / "SOURCE.md").write_text(env.get_template(TEMPLATE.name).render(v=versions), encoding="utf-8")
    return versions


def _cog_year(version: str, folder: Path) -> str:
    """The COG year of a decoupage-administratif version, as its README's table states it."""
    for line in (folder / "README.md").read_text("utf-8").splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) >= 2 and cells[0].isdigit() and cells[1] == version:
            return cells[0]
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decoupage", help=f"version of {DECOUPAGE} (default: latest)")
    parser.add_argument("--codes-postaux", help=f"version of {CODES_POSTAUX} (default: latest)")
    parser.add_argument("--tarballs", type=Path, help="folder holding tarballs already packed (offline)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="passerelle-reference-") as tmp:
        work = Path(tmp)
        if args.tarballs:
            packages = [local_tarball(DECOUPAGE, args.tarballs), local_tarball(CODES_POSTAUX, args.tarballs)]
            folder = args.tarballs
        else:
            packages = [npm_pack(DECOUPAGE, args.decoupage, work), npm_pack(CODES_POSTAUX, args.codes_postaux, work)]
            folder = work
        dirs = [unpack(folder / p["tarball"], work / f"pkg{i}") for i, p in enumerate(packages)]
        versions = build(dirs[0], dirs[1], packages, args.out)
    for name, f in versions["files"].items():
        print(f"{args.out / name}: {f['rows']} lignes")
    for p in versions["packages"].values():
        print(f"  {p['name']} {p['version']} ({p['published'] or 'date inconnue'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

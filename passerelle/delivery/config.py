"""``deliveries.yaml``: who gets which feed, where (``outputs.md``, « Delivering the feeds »).

```yaml
defaults:                       # optional, every key may also be given per consumer
  key: /etc/passerelle/id_ed25519
  known_hosts: /etc/passerelle/known_hosts
  attempts: 3                   # tries per file within a run (1 = no retry)
  backoff_seconds: 30           # wait before the 2nd try, doubled before each next one
  timeout_seconds: 60           # network timeout of a connection and of each read/write
  verify: sha256                # sha256: read the uploaded file back and hash it; size: size only
  catch_up_days: 7              # files of the last N days still undelivered are sent by the next run
consumers:
  carif:          {feeds: ["carif/lheo-{date}.xml", "carif/lheo-delta-{date}.xml"],
                   target: "sftp://passerelle@sftp.carif.example:22/depot/"}
  mission-locale: {feeds: ["mission-locale/sessions-{date}.csv"], target: "file:///srv/partage/mission-locale/"}
```

Feed names hold ``{date}``: inside ``[...]`` or ``{...}`` they must be quoted (YAML reads an
unquoted ``{`` there as the start of a mapping); in block lists (``- carif/lheo-{date}.xml``)
quotes are optional.

Strict: an unknown key, a feed that no run publishes, a password in a URL, a missing key or
``known_hosts`` file for an ``sftp://`` target are refused with a French message naming the
consumer and the key (:class:`DeliveryConfigError`). ``${NAME}`` in ``target``, ``key`` and
``known_hosts`` is replaced by the environment variable ``NAME`` (unset: refused).
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

ENV_CONFIG = "PASSERELLE_DELIVERIES"
SCHEMES = ("sftp", "file")
VERIFY_MODES = ("sha256", "size")
DEFAULTS: dict[str, Any] = {
    "attempts": 3,
    "backoff_seconds": 30.0,
    "timeout_seconds": 60.0,
    "verify": "sha256",
    "catch_up_days": 7,
    "key": None,
    "known_hosts": None,
    "passphrase_env": None,
}
CONSUMER_KEYS = ("feeds", "target", *DEFAULTS)
SFTP_ONLY = ("key", "known_hosts", "passphrase_env")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class DeliveryConfigError(ValueError):
    """The delivery configuration cannot be used (message in French)."""


@dataclass(frozen=True)
class Target:
    scheme: str  # sftp | file
    path: str  # folder the files go into (absolute; POSIX on the server for sftp)
    host: str | None = None
    port: int = 22
    user: str | None = None

    @property
    def url(self) -> str:
        """The target as written in messages and in the log (never a secret)."""
        folder = self.path.rstrip("/") + "/"
        if self.scheme == "file":
            return f"file://{folder}"
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"sftp://{self.user}@{host}:{self.port}{folder}"


@dataclass(frozen=True)
class Consumer:
    name: str
    feeds: tuple[str, ...]  # templates relative to the day folder, with {date}
    target: Target
    key: str | None = None
    known_hosts: str | None = None
    passphrase_env: str | None = None
    attempts: int = 3
    backoff_seconds: float = 30.0
    timeout_seconds: float = 60.0
    verify: str = "sha256"
    catch_up_days: int = 7

    def files(self, run_date: date) -> list[str]:
        """The files of ``run_date`` this consumer gets (relative to the day folder)."""
        return [f.format(date=run_date.isoformat()) for f in self.feeds]

    def passphrase(self) -> str | None:
        return os.environ.get(self.passphrase_env) if self.passphrase_env else None


@dataclass(frozen=True)
class DeliveryConfig:
    consumers: tuple[Consumer, ...]
    source: str = ""  # the file it was read from
    names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(c.name for c in self.consumers))

    def consumer(self, name: str) -> Consumer:
        for c in self.consumers:
            if c.name == name:
                return c
        raise DeliveryConfigError(
            f"Partenaire « {name} » inconnu dans {self.source or 'la configuration des livraisons'} "
            f"(partenaires configurés : {', '.join(self.names)})."
        )


def known_feed_templates() -> dict[str, str]:
    """Feed file templates a run publishes ({date} form) -> feed name, from the feed catalogue."""
    from passerelle.feeds.catalog import FEEDS

    return {spec.path_template.replace("{d}", "{date}"): spec.name for spec in FEEDS}


def _expand(value: str, where: str) -> str:
    def repl(match: re.Match) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise DeliveryConfigError(f"{where} : la variable d'environnement {name} n'est pas définie.")
        return os.environ[name]

    return _VAR.sub(repl, value)


def parse_target(text: str, where: str) -> Target:
    if not isinstance(text, str) or not text.strip():
        raise DeliveryConfigError(
            f"{where} : « target » manquant (sftp://utilisateur@hôte:port/dossier/ ou file:///dossier/)."
        )
    url = urlsplit(text.strip())
    if url.scheme not in SCHEMES:
        raise DeliveryConfigError(
            f"{where} : destination « {text} » non prise en charge "
            "(attendu sftp://utilisateur@hôte:port/dossier/ ou file:///dossier/)."
        )
    if url.query or url.fragment:
        raise DeliveryConfigError(f"{where} : la destination « {text} » ne doit porter ni « ? » ni « # ».")
    path = unquote(url.path)
    if not path.startswith("/"):
        raise DeliveryConfigError(f"{where} : le dossier de destination doit être un chemin absolu (« {text} »).")
    if ".." in path.split("/"):
        raise DeliveryConfigError(f"{where} : « .. » refusé dans le dossier de destination (« {text} »).")
    path = posixpath.normpath(path)
    if url.scheme == "file":
        if url.netloc not in ("", "localhost"):
            raise DeliveryConfigError(
                f"{where} : file:// désigne un dossier de cette machine : écrivez "
                f"file:///chemin/ (hôte « {url.netloc} » refusé)."
            )
        return Target("file", path)
    if url.password is not None:
        raise DeliveryConfigError(
            f"{where} : mot de passe refusé dans « {url.scheme}://… » : l'authentification "
            "se fait par clé (« key »), jamais par mot de passe écrit dans un fichier."
        )
    if not url.username or not url.hostname:
        raise DeliveryConfigError(
            f"{where} : la destination sftp doit nommer l'utilisateur et l'hôte "
            f"(sftp://utilisateur@hôte:port/dossier/), reçu « {text} »."
        )
    try:
        port = url.port or 22
    except ValueError as exc:
        raise DeliveryConfigError(f"{where} : port invalide dans « {text} ».") from exc
    return Target("sftp", path, host=url.hostname, port=port, user=unquote(url.username))


def _number(value: Any, where: str, key: str, kind: type, minimum: float) -> Any:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (kind is int and not float(value).is_integer())
    ):
        raise DeliveryConfigError(
            f"{where} : « {key} » doit être un nombre{' entier' if kind is int else ''}, reçu {value!r}."
        )
    if value < minimum:
        raise DeliveryConfigError(f"{where} : « {key} » doit valoir au moins {minimum:g}, reçu {value!r}.")
    return kind(value)


def _settings(raw: dict, where: str, base: dict) -> dict:
    out = dict(base)
    for key, value in raw.items():
        if key in ("feeds", "target"):
            continue
        if key == "attempts":
            out[key] = _number(value, where, key, int, 1)
        elif key == "catch_up_days":
            out[key] = _number(value, where, key, int, 0)
        elif key in ("backoff_seconds", "timeout_seconds"):
            out[key] = _number(value, where, key, float, 0.0 if key == "backoff_seconds" else 1.0)
        elif key == "verify":
            if value not in VERIFY_MODES:
                raise DeliveryConfigError(f"{where} : « verify » vaut sha256 ou size, reçu {value!r}.")
            out[key] = value
        elif key in ("key", "known_hosts"):
            if not isinstance(value, str) or not value.strip():
                raise DeliveryConfigError(f"{where} : « {key} » doit être un chemin de fichier.")
            out[key] = str(Path(_expand(value.strip(), where)).expanduser())
        elif key == "passphrase_env":
            if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
                raise DeliveryConfigError(f"{where} : « passphrase_env » est le nom d'une variable d'environnement.")
            out[key] = value
    return out


def _unknown(raw: dict, allowed: tuple[str, ...], where: str) -> None:
    extra = sorted(str(k) for k in raw if k not in allowed)
    if extra:
        raise DeliveryConfigError(f"{where} : clé(s) inconnue(s) {', '.join(extra)} (attendu : {', '.join(allowed)}).")


def _feeds(raw: Any, where: str) -> tuple[str, ...]:
    known = known_feed_templates()
    if not isinstance(raw, list) or not raw or not all(isinstance(f, str) for f in raw):
        raise DeliveryConfigError(
            f"{where} : « feeds » doit être une liste non vide de fichiers, par exemple [{next(iter(known))}]."
        )
    feeds = tuple(f.strip() for f in raw)
    for f in feeds:
        if f not in known:
            raise DeliveryConfigError(f"{where} : flux « {f} » inconnu ; les flux publiés sont : {', '.join(known)}.")
    names = [posixpath.basename(f) for f in feeds]
    if len(set(names)) != len(names) or len(set(feeds)) != len(feeds):
        raise DeliveryConfigError(f"{where} : deux flux porteraient le même nom chez le partenaire.")
    return feeds


def _check_file(path: str | None, where: str, key: str, what: str) -> None:
    if path is None:
        raise DeliveryConfigError(f"{where} : « {key} » manquant : {what} (dans le partenaire ou dans « defaults »).")
    p = Path(path)
    if not p.is_file():
        raise DeliveryConfigError(f"{where} : {key} « {path} » introuvable ({what}).")
    if not os.access(p, os.R_OK):
        raise DeliveryConfigError(f"{where} : {key} « {path} » illisible par cet utilisateur ({what}).")


def parse_config(data: Any, source: str = "") -> DeliveryConfig:
    """Validate an already loaded YAML document."""
    label = source or "configuration des livraisons"
    if not isinstance(data, dict):
        raise DeliveryConfigError(f"{label} : attendu un document avec « consumers: »")
    _unknown(data, ("consumers", "defaults"), label)
    defaults_raw = data.get("defaults") or {}
    if not isinstance(defaults_raw, dict):
        raise DeliveryConfigError(f"{label} : « defaults » doit être un dictionnaire.")
    _unknown(defaults_raw, tuple(DEFAULTS), f"{label}, defaults")
    base = _settings(defaults_raw, f"{label}, defaults", DEFAULTS)
    consumers_raw = data.get("consumers")
    if not isinstance(consumers_raw, dict) or not consumers_raw:
        raise DeliveryConfigError(f"{label} : « consumers » doit lister au moins un partenaire.")
    consumers = []
    for name, raw in consumers_raw.items():
        where = f"{label}, partenaire « {name} »"
        if not isinstance(name, str) or not _NAME.match(name):
            raise DeliveryConfigError(f"{where} : nom invalide (minuscules, chiffres, « - » et « _ »).")
        if not isinstance(raw, dict):
            raise DeliveryConfigError(f"{where} : attendu {{feeds: [...], target: ...}}.")
        _unknown(raw, CONSUMER_KEYS, where)
        settings = _settings(raw, where, base)
        target = parse_target(_expand(str(raw.get("target") or ""), where), where)
        if target.scheme == "sftp":
            _check_file(settings["key"], where, "key", "la clé privée de connexion")
            _check_file(
                settings["known_hosts"],
                where,
                "known_hosts",
                "les clés de serveur acceptées, jamais acceptées à l'aveugle",
            )
        else:
            given = [k for k in SFTP_ONLY if k in raw]
            if given:
                raise DeliveryConfigError(
                    f"{where} : {', '.join(given)} ne s'applique(nt) qu'aux destinations sftp://."
                )
            settings.update(dict.fromkeys(SFTP_ONLY))
        consumers.append(Consumer(name=name, feeds=_feeds(raw.get("feeds"), where), target=target, **settings))
    return DeliveryConfig(tuple(consumers), source=source)


def load_config(path: str | Path) -> DeliveryConfig:
    """Read and validate ``deliveries.yaml``."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DeliveryConfigError(f"Configuration des livraisons introuvable : {path}.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DeliveryConfigError(f"Configuration des livraisons illisible : {path} ({exc}).") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        hint = ""
        if "{date}" in text:
            hint = (
                " Entre crochets ou accolades, écrivez les flux entre guillemets "
                '(« ["carif/lheo-{date}.xml"] ») : sinon YAML lit « { » comme le début d\'un dictionnaire.'
            )
        raise DeliveryConfigError(f"{path} n'est pas un YAML valide : {exc}.{hint}") from exc
    return parse_config(data, str(path))

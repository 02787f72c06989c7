"""Is ``requirements.lock`` still the lock of ``pyproject.toml``, and is it what is installed?

``make venv`` / ``make demo`` / ``make test`` install exactly the pins of ``requirements.lock``
(``pip install --require-hashes -r requirements.lock`` then the project with ``--no-deps``), so
a dependency added to ``pyproject.toml`` without ``make lock`` would silently be missing, or
stay at a version outside the new range. :func:`lock_problems` says so, naming the package:

- every requirement of ``[project].dependencies`` and of the ``dev`` extra (the lock is compiled
  with ``--extra dev``) must be pinned in the lock, at a version inside its range, and so must
  the requirements of the extras it asks for (``psycopg[binary]`` -> ``psycopg-binary``);
- every pinned package must be installed at its pinned version (what ``make venv`` promises);
- the lock must be closed: what each pinned package requires (read from its installed
  metadata, which is the pinned version once the previous point holds) is pinned too, inside
  the range asked.

Requirements are evaluated for the deployment target of the lock (CPython 3.11, Linux x86_64).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib import metadata

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

LOCK_NAME = "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")
TARGET = {
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "python_version": "3.11",
}


class Installed:
    """What is installed: version and requirements of a distribution (None when absent)."""

    def version(self, name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    def requires(self, name: str) -> list[str]:
        return metadata.requires(name) or []


def lock_pins(text: str) -> dict[str, Version]:
    """``{canonical name: version}`` of every ``name==version`` line of a requirements lock."""
    pins = {}
    for line in text.splitlines():
        m = PIN.match(line.strip())
        if m:
            pins[canonicalize_name(m.group(1))] = Version(m.group(2))
    return pins


def _environment(extra: str = "") -> dict[str, str]:
    env = dict(default_environment())
    env.update(TARGET)
    if not env["python_full_version"].startswith("3.11."):
        env["python_full_version"] = "3.11.0"
    env["extra"] = extra
    return env


def _applies(req: Requirement, extra: str = "") -> bool:
    return req.marker is None or req.marker.evaluate(_environment(extra))


def _requirements_of(installed: Installed, name: str, extras: Iterable[str] = ()) -> list[Requirement]:
    """The requirements of an installed distribution: the base ones, or those of the given extras."""
    out = []
    for text in installed.requires(name):
        req = Requirement(text)
        if extras:
            if req.marker is not None and any(
                req.marker.evaluate(_environment(e)) and not req.marker.evaluate(_environment("")) for e in extras
            ):
                out.append(req)
        elif _applies(req):
            out.append(req)
    return out


def _pin_problem(req: Requirement, pins: dict[str, Version], asked_by: str) -> str | None:
    name = canonicalize_name(req.name)
    if name not in pins:
        return f"{asked_by} asks for « {req} » but {LOCK_NAME} has no {name}: run `make lock`"
    if req.specifier and not req.specifier.contains(pins[name], prereleases=True):
        return (
            f"{asked_by} asks for « {req} » but {LOCK_NAME} pins {name}=={pins[name]}: "
            "run `make lock` (or `make lock-upgrade PACKAGES=" + name + "`)"
        )
    return None


def lock_problems(pyproject: dict, lock_text: str, installed: Installed | None = None) -> list[str]:
    """Every way the lock fails ``pyproject.toml`` or the installed environment, one sentence each."""
    installed = installed or Installed()
    pins = lock_pins(lock_text)
    problems: list[str] = []
    project = pyproject.get("project", {})
    direct = [("pyproject.toml [project].dependencies", r) for r in project.get("dependencies", [])]
    direct += [
        ("pyproject.toml [project.optional-dependencies].dev", r)
        for r in project.get("optional-dependencies", {}).get("dev", [])
    ]
    for where, text in direct:
        req = Requirement(text)
        if not _applies(req):
            continue
        problem = _pin_problem(req, pins, where)
        if problem:
            problems.append(problem)
            continue
        if req.extras and installed.version(req.name) is not None:
            for sub in _requirements_of(installed, req.name, sorted(req.extras)):
                problem = _pin_problem(sub, pins, f"{req.name}[{','.join(sorted(req.extras))}] (asked by {where})")
                if problem:
                    problems.append(problem)

    for name, version in sorted(pins.items()):
        have = installed.version(name)
        if have is None:
            problems.append(f"{name}=={version} is in {LOCK_NAME} but not installed: run `make venv`")
            continue
        if Version(have) != version:
            problems.append(f"{name} {have} is installed but {LOCK_NAME} pins {name}=={version}: run `make venv`")
            continue
        for sub in _requirements_of(installed, name):
            problem = _pin_problem(sub, pins, f"{name}=={version} (in {LOCK_NAME})")
            if problem:
                problems.append(problem)
    return problems

"""requirements.lock is the lock of pyproject.toml and is what `make venv` installed (see tests/lockcheck.py)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.lockcheck import LOCK_NAME, Installed, lock_pins, lock_problems

ROOT = Path(__file__).resolve().parents[2]


def _pyproject(*deps: str, dev: tuple[str, ...] = ()) -> dict:
    return {"project": {"dependencies": list(deps), "optional-dependencies": {"dev": list(dev)}}}


def _lock(**pins: str) -> str:
    return "\n".join(f"{name.replace('_', '-')}=={v} \\\n    --hash=sha256:00\n    # via x" for name, v in pins.items())


class FakeInstalled(Installed):
    """Installed distributions given as {name: (version, [requirement, …])}."""

    def __init__(self, dists: dict[str, tuple[str, list[str]]]):
        self.dists = dists

    def version(self, name):
        return self.dists[name][0] if name in self.dists else None

    def requires(self, name):
        return self.dists[name][1]


def test_the_lock_satisfies_pyproject_and_is_what_is_installed():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    lock = (ROOT / LOCK_NAME).read_text(encoding="utf-8")
    problems = lock_problems(pyproject, lock)
    assert not problems, f"{LOCK_NAME} does not match pyproject.toml or the environment:\n- " + "\n- ".join(problems)


def test_the_lock_pins_every_package_with_hashes():
    text = (ROOT / LOCK_NAME).read_text(encoding="utf-8")
    pins = lock_pins(text)
    assert {"dagster", "dagster-postgres", "psycopg2-binary", "sqlalchemy", "uv"} <= set(pins)
    blocks = [b for b in text.split("\n") if b and b[0].isalnum()]
    assert len(blocks) == len(pins) and all(b.endswith("\\") for b in blocks), "every pin is followed by its hashes"


def test_a_dependency_missing_from_the_lock_is_named():
    installed = FakeInstalled({"sqlalchemy": ("2.1.9", [])})
    problems = lock_problems(_pyproject("sqlalchemy>=2.1", "paramiko>=3.5"), _lock(sqlalchemy="2.1.9"), installed)
    assert problems == [
        f"pyproject.toml [project].dependencies asks for « paramiko>=3.5 » but {LOCK_NAME} has no "
        "paramiko: run `make lock`"
    ]


def test_a_dev_dependency_missing_from_the_lock_is_named():
    problems = lock_problems(_pyproject(dev=("selenium>=4",)), _lock(), FakeInstalled({}))
    assert len(problems) == 1 and "[project.optional-dependencies].dev" in problems[0] and "selenium" in problems[0]


def test_a_pin_outside_the_range_is_named():
    installed = FakeInstalled({"sqlalchemy": ("2.0.3", [])})
    (problem,) = lock_problems(_pyproject("SQLAlchemy>=2.1.9"), _lock(sqlalchemy="2.0.3"), installed)
    assert "« SQLAlchemy>=2.1.9 »" in problem and "sqlalchemy==2.0.3" in problem and "make lock" in problem


def test_a_requirement_for_another_platform_is_not_asked():
    problems = lock_problems(_pyproject('pywin32>=300; sys_platform == "win32"'), _lock(), FakeInstalled({}))
    assert problems == []


def test_the_requirements_of_an_extra_asked_for_are_checked():
    installed = FakeInstalled(
        {
            "psycopg": (
                "3.3.9",
                [
                    'psycopg-binary==3.3.9; implementation_name != "pypy" and extra == "binary"',
                    'psycopg-pool; extra == "pool"',
                    "typing-extensions>=4.6",
                ],
            ),
            "typing-extensions": ("4.15.0", []),
        }
    )
    pins = _lock(psycopg="3.3.9", typing_extensions="4.15.0")
    (problem,) = lock_problems(_pyproject("psycopg[binary]>=3.3.9"), pins, installed)
    assert problem.startswith(
        "psycopg[binary] (asked by pyproject.toml [project].dependencies) asks for « psycopg-binary==3.3.9"
    )
    assert "has no psycopg-binary" in problem


def test_a_transitive_requirement_missing_from_the_lock_is_named():
    installed = FakeInstalled(
        {"sqlalchemy": ("2.1.9", ["typing-extensions>=4.6.0", 'greenlet>=1; extra == "asyncio"'])}
    )
    (problem,) = lock_problems(_pyproject("sqlalchemy"), _lock(sqlalchemy="2.1.9"), installed)
    assert problem == (
        f"sqlalchemy==2.1.9 (in {LOCK_NAME}) asks for « typing-extensions>=4.6.0 » but {LOCK_NAME} "
        "has no typing-extensions: run `make lock`"
    )


@pytest.mark.parametrize(
    "have, expected",
    [
        (None, f"sqlalchemy==2.1.9 is in {LOCK_NAME} but not installed: run `make venv`"),
        ("2.0.3", f"sqlalchemy 2.0.3 is installed but {LOCK_NAME} pins sqlalchemy==2.1.9: run `make venv`"),
    ],
)
def test_an_environment_that_is_not_the_lock_is_named(have, expected):
    installed = FakeInstalled({} if have is None else {"sqlalchemy": (have, [])})
    assert lock_problems(_pyproject(), _lock(sqlalchemy="2.1.9"), installed) == [expected]

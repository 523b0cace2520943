"""Container image: Dockerfile lint and shape, build context, pinned dependencies."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.deploy.k8s import ROOT
from tests.deploy.tools import tool

DOCKERFILE = ROOT / "Dockerfile"


def stages(text: str) -> list[list[str]]:
    """Instructions per build stage (continuation lines joined, comments dropped)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    result: list[list[str]] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            result.append([])
        if result:
            result[-1].append(line)
    return result


@pytest.mark.slow  # starts a process
@pytest.mark.skipif(tool("hadolint") is None, reason="hadolint not installed")
def test_hadolint_passes() -> None:
    result = subprocess.run(
        [str(tool("hadolint")), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow  # starts a process
@pytest.mark.skipif(tool("hadolint") is None, reason="hadolint not installed")
def test_hadolint_would_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install aiohttp\n")
    result = subprocess.run(
        [str(tool("hadolint")), "--no-color", str(bad)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0


def test_multi_stage_slim_python_311_non_root() -> None:
    text = DOCKERFILE.read_text()
    all_stages = stages(text)
    assert len(all_stages) >= 2
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert base is not None
    # An exact patch release (optionally pinned by digest with scripts/pin-base-image.sh).
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base[1]), base[1]
    labels = " ".join(i for i in all_stages[-1] if i.upper().startswith("LABEL"))
    for key in ("source", "revision", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels, key
    final = all_stages[-1]
    assert any(i.startswith("COPY --from=") for i in final)
    users = [i.split()[1] for i in final if i.upper().startswith("USER ")]
    assert users, "the final stage must switch user"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0, "numeric non-root UID (runAsNonRoot needs it)"
    assert not gid or (gid.isdigit() and int(gid) > 0)
    # The manifests run as this UID.
    assert f"runAsUser: {uid}" in (ROOT / "manifests" / "base" / "svc-book.yaml").read_text()
    # The build installs the hash-checked pins, then the project without re-resolving.
    build = " ".join(all_stages[0])
    assert "--require-hashes --no-deps --requirement requirements/runtime.lock" in build
    assert "--require-hashes --no-deps --requirement requirements/build.lock" in build
    assert "--no-build-isolation" in build


def test_no_secrets_baked_into_the_image() -> None:
    text = DOCKERFILE.read_text()
    for instruction in [i for s in stages(text) for i in s]:
        word = instruction.split()[0].upper()
        if word in ("ENV", "ARG"):
            assert not re.search(r"SECRET|PASSWORD|TOKEN|DATABASE_URL|AWS_", instruction, re.I), instruction
        if word in ("COPY", "ADD"):
            assert ".env" not in instruction


def dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """(negated, regex) per line, following Docker's .dockerignore rules."""
    patterns = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        line = line.lstrip("!").strip("/")
        regex = ""
        i = 0
        while i < len(line):
            if line.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif line.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif line[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif line[i] == "?":
                regex, i = regex + "[^/]", i + 1
            else:
                regex, i = regex + re.escape(line[i]), i + 1
        patterns.append((negated, re.compile(regex)))
    return patterns


def in_build_context(path: str) -> bool:
    """Docker excludes a path when the last pattern matching it or a parent is not negated."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    included = True
    for negated, regex in dockerignore_patterns():
        if any(regex.fullmatch(c) for c in candidates):
            included = negated
    return included


def test_build_context_holds_the_packages_and_nothing_private() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]]
    for path in ["pyproject.toml", "requirements/runtime.lock", "requirements/build.lock",
                 *(f"{p}/__init__.py" for p in packages), "svc_book/migrations/versions/x.py"]:
        assert in_build_context(path), path
    for path in [".env", "svc_book/.env", ".env.local", "tests/conftest.py", ".git/config",
                 ".venv/bin/python", "var/books.db", "var/jwt_secret", "svc_book/__pycache__/app.pyc",
                 "manifests/base/kustomization.yaml", "scripts/deploy.sh", "Dockerfile",
                 "bench-results/x.json", "libcommon/local.db", "requirements/dev.lock"]:
        assert not in_build_context(path), path

"""Where the test tools are: the venv's first, then PATH."""

from __future__ import annotations

import shutil

from tests.deploy.k8s import ROOT


def tool(name: str) -> str | None:
    local = ROOT / ".venv" / "bin" / name
    return str(local) if local.exists() else shutil.which(name)

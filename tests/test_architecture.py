"""The import contracts (pyproject.toml, `make lint`) hold, cover every module, and can fail."""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "warroom"
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
DOMAINS = (
    "alerts",
    "audit",
    "datadog",
    "deploys",
    "incidents",
    "ingest",
    "notifications",
    "oncall",
    "policy",
    "reports",
    "scheduler",
    "status",
    "triage",
    "users",
)
ADAPTERS = ("routes", "pages", "cli", "slack")  # a domain's entry adapters: they may use api/, web/, cli/


def _lint(src: Path) -> subprocess.CompletedProcess[str]:
    lint = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [str(lint), "--no-logo", "--config", str(ROOT / "pyproject.toml")],
        cwd=src.parent,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_the_contracts_hold() -> None:
    done = _lint(ROOT / "src")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "7 kept, 0 broken" in done.stdout


def test_every_domain_module_is_an_adapter_or_under_the_inner_contract() -> None:
    """A new module must be named like an adapter or be listed as inner, so no module escapes the rules."""
    inner = next(c for c in CONFIG["contracts"] if c["id"] == "inner")["source_modules"]
    loose = []
    for domain in DOMAINS:
        for path in sorted((SRC / domain).glob("*.py")):
            name = f"warroom.{domain}.{path.stem}"
            if path.stem == "__init__" or path.stem in ADAPTERS:
                continue
            if not any(fnmatch.fnmatchcase(name, pattern) for pattern in inner):
                loose.append(name)
    assert not loose, f"add these to the 'inner' contract (or name them as adapters): {loose}"


def test_a_violation_breaks_the_lint(tmp_path: Path) -> None:
    """The same contracts on a copy where a model imports the API plumbing and core imports a domain."""
    copy = tmp_path / "src" / "warroom"
    shutil.copytree(SRC, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (copy / "incidents" / "models.py").write_text(
        (copy / "incidents" / "models.py").read_text() + "\nfrom warroom.api import deps  # noqa\n"
    )
    (copy / "core" / "clock.py").write_text(
        (copy / "core" / "clock.py").read_text() + "\nfrom warroom.incidents import states  # noqa\n"
    )
    done = _lint(tmp_path / "src")
    assert done.returncode != 0
    assert "warroom.incidents.models -> warroom.api.deps" in done.stdout
    assert "warroom.core.clock -> warroom.incidents.states" in done.stdout

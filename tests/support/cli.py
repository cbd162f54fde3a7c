"""The `warroom` command run in-process: the very code a terminal runs, minus a Python start-up
(about a second) per command. `tests/test_cli.py` also runs the real entry point as a process."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import typer
from pydantic import ValidationError
from typer.testing import CliRunner

from tests.support.wired import REGISTRY
from warroom.core.settings import get_settings
from warroom.main import build_cli

CLI = build_cli(REGISTRY)  # the command line `warroom` builds, from the same wiring
KEEP = {"WARROOM_PASSWORD_KDF"}  # the suite's choice (tests/conftest.py), not the test's


@dataclass
class Ran:
    """What a finished command left: the same names as `subprocess.CompletedProcess`."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def warroom(*args: str, env: Mapping[str, str | None], input: str | None = None, app: typer.Typer = CLI) -> Ran:
    """Run `warroom ARGS` with `env` laid over this process's WARROOM_* variables (cleared); `app`:
    another build of the command line (e.g. `build_cli(REGISTRY, clock=FakeClock(...))`)."""
    settings_env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("WARROOM_") and k not in KEEP}
    settings_env.update(env)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, list(args), env=settings_env, input=input, prog_name="warroom")
    finally:
        get_settings.cache_clear()
    code, stderr = result.exit_code, result.stderr
    if isinstance(result.exception, ValidationError):  # what `warroom.main.main` does with it
        code, stderr = 2, stderr + f"error: {result.exception}\n"
    elif result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a crash is a test failure with its own traceback
    return Ran(tuple(args), code, result.stdout, stderr)


def ok(*args: str, env: Mapping[str, str | None], input: str | None = None, app: typer.Typer = CLI) -> str:
    ran = warroom(*args, env=env, input=input, app=app)
    assert ran.returncode == 0, f"{args}: {ran.stderr}"
    return ran.stdout

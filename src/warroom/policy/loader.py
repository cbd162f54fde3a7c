"""Load and validate a policy file, with errors that name the file and the bad key."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from warroom.policy.schema import Policy

REFERENCE_NAME = "reference.yaml"
_ENV_REF = re.compile(r"\$\{([A-Z0-9_]+)\}")


class PolicyError(Exception):
    """A policy file that cannot be used; `problems` lists `path: what was expected`."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: invalid policy\n" + "\n".join(f"  {p}" for p in problems))


def _loc_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-after", "function-before", "literal")):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _expand_env(value: Any) -> Any:
    """Replace `${VAR}` with the environment's value, so secrets stay out of the file."""
    if isinstance(value, str):
        return _ENV_REF.sub(lambda m: os.environ.get(m.group(1), ""), value)
    if isinstance(value, list):
        return [_expand_env(v) for v in value]
    if isinstance(value, dict):
        return {k: _expand_env(v) for k, v in value.items()}
    return value


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Validate YAML text into a Policy or raise PolicyError with precise paths."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise PolicyError(source, [f"{where}not valid YAML ({getattr(exc, 'problem', exc)})"]) from None
    if not isinstance(raw, dict):
        raise PolicyError(source, ["(top level): expected a mapping of policy keys"])
    try:
        return Policy.model_validate(_expand_env(raw))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{_loc_path(err['loc'])}: {msg}")
        raise PolicyError(source, problems) from None


def reference_policy_text() -> str:
    return resources.files("warroom.policy").joinpath(REFERENCE_NAME).read_text(encoding="utf-8")


@dataclass(frozen=True)
class PolicySource:
    """A policy's text and where it came from: what the server records and the CLI compares."""

    path: str | None  # absolute; None: the bundled reference policy
    text: str

    @property
    def name(self) -> str:
        return self.path or f"<bundled {REFERENCE_NAME}>"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def parse(self) -> Policy:
        return parse_policy(self.text, source=self.name)


def read_policy(path: str | os.PathLike[str] | None = None) -> PolicySource:
    """The file at `path`, or the bundled reference policy when no path is given (not parsed)."""
    if path is None or str(path) == "":
        return PolicySource(None, reference_policy_text())
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(str(p), [f"cannot read file: {exc.strerror}"]) from None
    return PolicySource(str(p.resolve()), text)


def load_policy(path: str | os.PathLike[str] | None = None) -> Policy:
    """Load the file at `path`, or the bundled reference policy when no path is given."""
    if path is None or str(path) == "":
        return read_policy(None).parse()
    source = read_policy(path)
    return parse_policy(source.text, source=str(path))


@lru_cache(maxsize=1)
def reference_policy() -> Policy:
    return load_policy(None)

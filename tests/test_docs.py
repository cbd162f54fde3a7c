"""The README keeps up with the code: every setting and policy key is documented, its examples run."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import typer
import yaml

from warroom.core.settings import Settings
from warroom.policy import Policy
from warroom.policy.loader import parse_policy, reference_policy_text

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"## {title}")
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


def test_every_setting_is_in_the_configuration_table() -> None:
    table = section("Configuration")
    missing = [f"WARROOM_{name.upper()}" for name in Settings.model_fields if f"`WARROOM_{name.upper()}`" not in table]
    assert not missing, f"README 'Configuration' does not list {missing}"
    documented = set(re.findall(r"`WARROOM_([A-Z_]+)`", table))
    unknown = sorted(d for d in documented if d.lower() not in Settings.model_fields)
    assert not unknown, f"README 'Configuration' lists settings that do not exist: {unknown}"


def test_every_policy_key_is_in_the_policy_table() -> None:
    table = section("The policy file")
    missing = [key for key in Policy.model_fields if not re.search(rf"^\| `{key}[`.]", table, re.M)]
    assert not missing, f"README 'The policy file' does not describe {missing}"


def test_the_slack_example_is_a_valid_policy() -> None:
    [block] = re.findall(r"```yaml\n(.*?)```", section("Slack in three steps"), re.S)
    snippet = yaml.safe_load(re.sub(r"^ {3}", "", block, flags=re.M))
    policy = yaml.safe_load(reference_policy_text())
    policy.update(snippet)
    parsed = parse_policy(yaml.safe_dump(policy), "README example")
    assert parsed.routes["completed"] == ["leadership"]
    assert parsed.channels["support"].type == "slack"


# --- The contributor documents (and every other doc) name only what exists -----------------------

REQUIRED = (ROOT / "CONTRIBUTING.md", ROOT / "docs" / "architecture.md")
FASTPATH = ROOT / "src" / "warroom" / "ingest" / "fastpath"
DOCS = (ROOT / "README.md", *REQUIRED, *sorted((ROOT / "docs").glob("*.md")), FASTPATH / "README.md")
DEPLOY = tuple(sorted(p for p in (ROOT / "deploy").iterdir() if p.is_file()))
# environment variables the test suite reads, documented for contributors; not process settings
TEST_VARIABLES = ("WARROOM_TEST_DATABASE_URL", "WARROOM_FAULT_EVENTS")
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
_COMMENT = re.compile(r"(^|\s)#.*$", re.M)  # shell and YAML comments are prose
_SPAN = re.compile(r"`([^`\n]+)`")
# `warroom ...` where a shell command starts: a line, after ; & | ( or $(, a Procfile name, sudo,
# VAR=value prefixes, a path to the executable or `python -m`
_COMMAND = re.compile(
    r"(?:^|[;&|(]|\$\()[ \t]*(?:[\w.-]+:[ \t]+)?(?:sudo[ \t]+)?(?:[A-Z_][A-Z0-9_]*=\S*[ \t]+)*"
    r"(?:\S*/)?(?:python3?[ \t]+-m[ \t]+)?warroom((?:[ \t]+[a-z][a-z0-9-]*)*)",
    re.M,
)
_SETTING = re.compile(r"(?<!\$\{)\bWARROOM_[A-Z0-9]+[A-Z0-9_]*")  # not ${VAR}: a policy secret
_SRC_PATH = re.compile(r"\bsrc/warroom/[\w/.-]*\w")
_FILE_SPAN = re.compile(r"^(?:warroom/)?((?:[a-z_]+/)+[a-z_]+\.py)$")  # with a folder; NAME-like: a placeholder
_MODULE_SPAN = re.compile(r"^(warroom(?:\.[a-z_][a-z0-9_]*)+)(?:\(\))?$")


def code_of(text: str, markdown: bool = True) -> list[str]:
    """What a reader would type: fenced blocks and inline code (a deploy file is all code)."""
    if not markdown:
        return [text]
    blocks = [_COMMENT.sub("", block) for block in _FENCE.findall(text)]
    prose = _FENCE.sub("", text)
    return blocks + _SPAN.findall(prose)


def _command_tree() -> Any:
    from tests.support.wired import REGISTRY
    from warroom.main import build_cli

    return typer.main.get_command(build_cli(REGISTRY))


def unknown_commands(code: list[str], tree: Any) -> list[str]:
    """Each `warroom a b c` whose words are not a path of groups ending at a command or group."""
    bad = []
    for segment in code:
        for match in _COMMAND.finditer(segment):
            node, said = tree, ["warroom"]
            for word in match.group(1).split():
                if not hasattr(node, "commands"):
                    break  # a command's arguments (typer ships its own click: no isinstance)
                said.append(word)
                found = node.commands.get(word)
                if found is None:
                    bad.append(" ".join(said))
                    break
                node = found
    return bad


def unknown_settings(text: str) -> list[str]:
    named = set(_SETTING.findall(text)) - set(TEST_VARIABLES)
    return sorted(n for n in named if n.removeprefix("WARROOM_").lower() not in Settings.model_fields)


def missing_paths(text: str, code: list[str]) -> list[str]:
    """`src/warroom/...` paths, `domain/module.py` and `warroom.dotted.names` that do not exist."""
    missing = [p for p in _SRC_PATH.findall(text) if not (ROOT / p).exists() and p == p.lower()]
    for span in code:
        span = span.strip()
        if (found := _FILE_SPAN.match(span)) and not span.startswith("src/"):
            rel = found.group(1)
            if not (ROOT / "src" / "warroom" / rel).exists() and not (ROOT / rel).exists():
                missing.append(span)
        elif (found := _MODULE_SPAN.match(span)) and not _resolves(found.group(1)):
            missing.append(span)
    return list(dict.fromkeys(missing))


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def test_contributing_and_architecture_exist_and_link() -> None:
    for doc in REQUIRED:
        assert doc.exists(), f"{doc.relative_to(ROOT)} is missing"
    contributing = REQUIRED[0].read_text()
    for topic in ("make test-fast", "## Add a domain", "## Add an alert source", "## Add a notification channel"):
        assert topic in contributing, topic
    assert "## The import contracts" in contributing and "BROKEN" in contributing
    architecture = REQUIRED[1].read_text()
    for topic in ("alert -> triage -> incident -> outbox -> Slack", "unit of work", "wiring", "fast path"):
        assert topic in architecture.lower() or topic in architecture, topic


def test_every_warroom_command_the_docs_name_exists() -> None:
    tree = _command_tree()
    bad = {}
    for doc in DOCS + DEPLOY:
        found = unknown_commands(code_of(doc.read_text(), markdown=doc.suffix == ".md"), tree)
        if found:
            bad[str(doc.relative_to(ROOT))] = found
    assert not bad, f"commands that `warroom` does not have: {bad}"


def test_every_setting_the_docs_name_exists() -> None:
    bad = {str(d.relative_to(ROOT)): unknown_settings(d.read_text()) for d in DOCS + DEPLOY}
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, f"WARROOM_* variables that are not settings: {bad}"
    tests = "".join(p.read_text() for p in (ROOT / "tests").rglob("*.py"))
    assert all(name in tests for name in TEST_VARIABLES), "a test-only variable no test reads"


def test_every_module_path_the_docs_name_exists() -> None:
    docs = (*DOCS, ROOT / "bench" / "RESULTS.md")
    bad = {}
    for doc in docs:
        text = doc.read_text()
        code = code_of(text) if doc in DOCS else []  # RESULTS.md is history: only full src/ paths
        if found := missing_paths(text, code):
            bad[str(doc.relative_to(ROOT))] = found
    assert not bad, f"the docs name files or modules that do not exist (moved?): {bad}"


def test_the_checks_catch_what_they_are_for() -> None:
    """The checkers above flag a wrong command, setting and path (so they cannot pass vacuously)."""
    tree = _command_tree()
    text = (
        "Run `warroom incident frobnicate INC-1` or\n```sh\nWARROOM_X=1 warroom nope\n"
        "warroom db upgrade && warroom token list\n```\nand `warroom policy check FILE`; "
        "set `WARROOM_NOT_A_SETTING`; see `src/warroom/api/ingest_proc.py`, `notifications/cadence.py`, "
        "`warroom.migrate.make_url_engine` and `warroom.migrate.upgrade`."
    )
    code = code_of(text)
    assert sorted(unknown_commands(code, tree)) == ["warroom incident frobnicate", "warroom nope"]
    assert unknown_commands(["migrate: warroom db upgrade\nExecStart=/opt/v/bin/warroom serve --port 1"], tree) == []
    assert unknown_settings(text) == ["WARROOM_NOT_A_SETTING", "WARROOM_X"]
    assert missing_paths(text, code) == [
        "src/warroom/api/ingest_proc.py",
        "notifications/cadence.py",
        "warroom.migrate.make_url_engine",
    ]


def test_the_default_database_is_the_file_the_readme_and_make_clean_name() -> None:
    """The layout refactor renamed it `warroom.core.db` by a blind search-and-replace."""
    default = Settings.model_fields["database_url"].default
    assert default == "sqlite:///./warroom.db"
    assert f"`{default}`" in section("Configuration")
    assert "warroom.db" in (ROOT / "Makefile").read_text() and "/warroom.db*" in (ROOT / ".gitignore").read_text()


def test_the_fast_path_readme_states_its_invariants() -> None:
    """The fast path's README says what must stay true (issue 17), and keeps up with the package."""
    from warroom.ingest.fastpath import messages

    readme = FASTPATH / "README.md"
    assert readme.exists(), "src/warroom/ingest/fastpath/README.md is missing"
    text = readme.read_text()
    for topic in (
        "**A batch is one event per transaction.**",
        "**Answered only after commit.**",
        "**The token before the body.**",
        "**Lock order.**",
        "## The writer process",
        "## On a crash",
    ):
        assert topic in text, topic
    modules = sorted(p.name for p in FASTPATH.glob("*.py") if p.name != "__init__.py")
    assert not [m for m in modules if f"`{m}`" not in text], "a module the README's table does not name"
    kinds = [n for n, v in vars(messages).items() if isinstance(v, type) and v.__module__ == messages.__name__]
    assert kinds and not [k for k in kinds if f"`{k}(" not in text], "a message kind the README does not describe"

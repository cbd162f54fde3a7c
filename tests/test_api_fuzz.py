"""Schemathesis drives every operation of the OpenAPI schema over real HTTP: no 500s, and every
response matches the schema. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.support.server import Running

EXAMPLES = int(os.environ.get("WARROOM_FUZZ_EXAMPLES", "12"))
CHECKS = [not_a_server_error, response_schema_conformance]


def test_api_never_500s_and_matches_schema(server: Running) -> None:
    with server.admin() as c:
        c.post("/api/v1/incidents", json={"services": ["sis"], "priority": "P2", "severity": "SEV-3"})
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    auth = {"Authorization": f"Bearer {server.admin_token}"}
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(base_url=server.url, headers=auth, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
    assert operations > 20
    assert not failures, "\n\n".join(failures)

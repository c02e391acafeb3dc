"""Schemathesis against the web role's OpenAPI schema, over loopback HTTP: whatever it sends
(bounded in examples so this stays under two minutes), no 500 and every response matches the
schema (status code, content type, body)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.web import ADMIN, RunningWeb, add_alerts, web_settings
from worker.queue.connection import open_client
from worker.queue.keys import Keys

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def running(redis_url: str) -> Iterator[RunningWeb]:
    prefix = "t" + uuid.uuid4().hex[:10]
    config = {
        "watchlists": [{"id": "nato", "query": "NATO"}],
        "webhooks": [{"id": "hook", "url": "http://127.0.0.1:9/hook", "format": "slack"}],
        # Schemathesis sends many bad tokens on purpose: they must not lock the good one out.
        "web": {"auth_failures_per_minute": 1_000_000},
    }
    with RunningWeb(web_settings(redis_url, prefix, **config)) as web:
        add_alerts(web.client, Keys(prefix), "nato", 20, notify=["hook"])
        yield web
    conn = open_client(redis_url)  # a cluster client on a cluster URL
    stale = list(conn.scan_iter(match=f"{{{prefix}:*"))
    if stale:
        conn.delete(*stale)
    conn.close()


def exercise(operation: Any, base: str, checks: list) -> None:
    """Up to 15 generated calls of one operation, each checked; raises on the first failure."""
    headers = {"Authorization": f"Bearer {ADMIN}"}

    @given(case=operation.as_strategy())
    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck),
              database=None)  # fmt: skip
    def call(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=base, headers=headers, checks=checks)

    call()


def test_no_server_error_and_every_response_matches_the_schema(running: RunningWeb) -> None:
    schema = schemathesis.openapi.from_url(f"{running.base}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    failures: dict[str, str] = {}

    for operation in operations:
        # /readyz answers 503 by design here (no role runs): its schema still has to hold.
        checks = CHECKS[1:] if operation.path == "/readyz" else CHECKS
        try:
            exercise(operation, running.base, checks)
        except Exception as exc:  # collect every operation's failure, then report them all
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:2000]

    assert len(operations) >= 20
    assert not failures, "\n\n".join(f"{k}: {v}" for k, v in failures.items())


def test_docs_page_and_every_error_documented_as_error_and_detail(running: RunningWeb) -> None:
    docs = running.get("/docs", token=None)
    schema = running.get("/openapi.json", token=None).json()

    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    error_refs = {
        response["content"]["application/json"]["schema"]["$ref"]
        for path in schema["paths"].values()
        for operation in path.values()
        for code, response in operation["responses"].items()
        if code[0] in "45" and "content" in response
    }
    assert error_refs == {"#/components/schemas/ErrorBody"}
    assert set(schema["components"]["schemas"]["ErrorBody"]["properties"]) == {"error", "detail"}
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"

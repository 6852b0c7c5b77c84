"""Fixtures that run the real Worker bytes in workerd through the local runtime."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from qrsync.local import LocalOptions, LocalWorker, running
from qrsync.settings import Settings, settings_from_stack_file

API_KEY = "test-key-0123456789"
# The stack's 5 s batch window would make every test wait 5 s for the consumer; tests shorten it.
# Everything else (batch size 25, 3 retries, dead-letter queue, bindings) is the prod stack's.
TEST_BATCH_TIMEOUT_SECONDS = 0.05


@pytest.fixture(scope="session")
def prod_settings() -> Settings:
    return settings_from_stack_file("prod")


@pytest.fixture(scope="session")
def worker(prod_settings: Settings) -> Iterator[LocalWorker]:
    options = LocalOptions(port=0, api_key=API_KEY, batch_timeout_seconds=TEST_BATCH_TIMEOUT_SECONDS)
    with running(prod_settings, options) as local:
        yield local


@pytest.fixture()
def http(worker: LocalWorker) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=worker.url, timeout=60) as client:
        yield client


@pytest.fixture()
def sync(http: httpx.Client) -> Callable[..., httpx.Response]:
    """POST /sync exactly as the Django client does: `requests`' json= escapes non-ASCII as \\uXXXX."""

    def post(body: Any, api_key: str | None = API_KEY) -> httpx.Response:
        import json

        headers = {"Content-Type": "application/json"}
        if api_key is not None:
            headers["X-Sync-API-Key"] = api_key
        return http.post("/sync", content=json.dumps(body).encode(), headers=headers)

    return post


def wait_until(check: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def product(code: str, **fields: Any) -> dict[str, Any]:
    """A ProductDoc shaped like the Django client's."""
    return {
        "code": code,
        "name": fields.pop("name", f"قماش {code}"),
        "description": fields.pop("description", "وصف"),
        "price": fields.pop("price", "390.00"),
        "currency": fields.pop("currency", "EGP"),
        "unit": fields.pop("unit", "متر"),
        "category": fields.pop("category", None),
        "updated_at": "2026-12-03 10:00",
        "type": fields.pop("type", "standalone"),
        "variants": fields.pop("variants", []),
        **fields,
    }


def unique(prefix: str) -> str:
    """A key no other test uses: tests share one Worker and its KV."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def qrsync(
    *args: str, url: str = "", stdin: str | None = None, key: str = API_KEY
) -> subprocess.CompletedProcess[str]:
    """Runs the CLI as a user does, with the target in QRSYNC_URL and QRSYNC_API_KEY."""
    env = {**os.environ, "QRSYNC_API_KEY": key, **({"QRSYNC_URL": url} if url else {})}
    return subprocess.run(
        [sys.executable, "-m", "qrsync", *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=300,
        check=False,
    )

"""The operators' CLI against the real local Worker: push, export, status, and readable errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from qrsync.client import SyncClient, SyncError, plan_requests
from qrsync.demo import generate_catalogue
from qrsync.local import LocalWorker
from tests.conftest import API_KEY, product, qrsync, wait_until


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("qrsync: error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def write_ndjson(path: Path, docs: list[object]) -> Path:
    path.write_text("".join(json.dumps(doc, ensure_ascii=False) + "\n" for doc in docs), encoding="utf-8")
    return path


def test_push_makes_every_product_readable_and_rerunning_is_idempotent(
    worker: LocalWorker, tmp_path: Path
) -> None:
    docs = generate_catalogue(600, seed=11)
    catalogue = write_ndjson(tmp_path / "catalogue.ndjson", docs)

    first = qrsync("push", str(catalogue), "--request-bytes", "400000", url=worker.url)

    assert first.returncode == 0, first.stderr
    assert "sent 600, accepted 600, failed 0 of 600 products" in first.stdout
    assert "product/s" in first.stderr  # the progress bar shows the rate
    with SyncClient(worker.url, API_KEY) as client:
        wait_until(lambda: client.get_key(docs[-1]["code"]) == docs[-1], timeout=60, what="the last product")
        exported = {doc["code"]: doc for doc in client.export_products() if doc["code"].startswith("GEN-")}
    assert exported == {doc["code"]: doc for doc in docs}

    seen = len(worker.events("consumer_batch"))
    again = qrsync("push", str(catalogue), url=worker.url)
    assert again.returncode == 0, again.stderr
    # Every product of the second push goes through the consumer again, and changes nothing.
    wait_until(
        lambda: sum(batch["keys"] for batch in worker.events("consumer_batch")[seen:]) >= 600,
        timeout=60,
        what="the second push to be consumed",
    )
    with SyncClient(worker.url, API_KEY) as client:
        again_exported = {d["code"]: d for d in client.export_products() if d["code"].startswith("GEN-")}
    assert again_exported == {doc["code"]: doc for doc in docs}
    batches = worker.events("consumer_batch")
    assert max(batch["kvOps"] for batch in batches) <= 1000
    assert all(batch["retried"] == batch["deferred"] == 0 for batch in batches)


def test_push_reads_a_json_array_from_stdin(worker: LocalWorker, http: httpx.Client) -> None:
    docs = [product("STDIN-1"), product("STDIN-2")]
    result = qrsync("push", "-", url=worker.url, stdin=json.dumps(docs))
    assert result.returncode == 0, result.stderr
    wait_until(lambda: http.get("/STDIN-2").status_code == 200, what="STDIN-2")


def test_dry_run_reports_every_bad_document_and_sends_nothing(worker: LocalWorker, tmp_path: Path) -> None:
    docs = [
        product("DRY-OK"),
        {"name": "no code"},
        product("__reserved__"),
        "text",
        product("DRY-" + "x" * 300),
    ]
    catalogue = write_ndjson(tmp_path / "bad.ndjson", docs)

    result = qrsync("push", str(catalogue), "--dry-run", url=worker.url)

    assert "line 2: code: must be a non-empty string" in result.stderr
    assert "line 3: code: is a reserved key" in result.stderr
    assert "line 4: product: must be a JSON object" in result.stderr
    assert "line 5: code:" in result.stderr
    assert "4 of 5 documents are invalid; nothing was sent" in one_line_error(result)
    with SyncClient(worker.url, API_KEY) as client, pytest.raises(SyncError, match="404"):
        client.get_key("DRY-OK")

    valid = write_ndjson(tmp_path / "ok.ndjson", [product("DRY-OK")])
    result = qrsync("push", str(valid), "--dry-run", url=worker.url)
    assert result.returncode == 0
    assert "1 documents are valid; nothing was sent (--dry-run)" in result.stdout


def test_errors_are_one_readable_line(worker: LocalWorker, tmp_path: Path) -> None:
    catalogue = write_ndjson(tmp_path / "c.ndjson", [product("ERR-1")])
    assert "refused the API key (401)" in one_line_error(
        qrsync("push", str(catalogue), url=worker.url, key="bad")
    )
    assert "cannot reach http://127.0.0.1:9" in one_line_error(qrsync("status", url="http://127.0.0.1:9"))
    broken = tmp_path / "broken.json"
    broken.write_text('[{"code": ', encoding="utf-8")
    assert "not valid JSON" in one_line_error(qrsync("push", str(broken), url=worker.url))
    assert "no such file" in one_line_error(qrsync("push", str(tmp_path / "missing.ndjson"), url=worker.url))
    assert "line 1 is not valid JSON" in one_line_error(qrsync("push", "-", url=worker.url, stdin="{oops\n"))


def test_status_of_a_healthy_deployment(worker: LocalWorker) -> None:
    result = qrsync("status", url=worker.url)
    assert result.returncode == 0, result.stderr
    assert ": ok — " in result.stdout
    assert "dead-letter store: empty" in result.stdout


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["dev"],
        ["demo"],
        ["push"],
        ["export"],
        ["status"],
        ["failed"],
        ["failed", "list"],
        ["failed", "replay"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = qrsync(*command, "--help")
    assert result.returncode == 0
    assert "usage: qrsync" in result.stdout


def test_requests_are_planned_by_bytes() -> None:
    docs = generate_catalogue(300, seed=3)
    chunks = list(plan_requests(docs, max_bytes=100_000))
    assert sum(len(chunk) for chunk in chunks) == 300
    assert all(len(json.dumps({"action": "sync_all", "products": c})) <= 100_000 + 100 for c in chunks)
    assert len(chunks) > 3

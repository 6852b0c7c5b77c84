"""Failure paths in real workerd: dead letters, replay, and ordering of late (older) writes.

A KV outage is simulated by the local runtime's `--kv-fault` (writes under a key prefix fail), so the
Worker code runs unchanged. Phase 1 runs with the fault; phase 2 restarts on the same state without it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx

from qrsync.client import SyncClient
from qrsync.local import LocalOptions, running
from qrsync.settings import Settings
from tests.conftest import API_KEY, TEST_BATCH_TIMEOUT_SECONDS, product, qrsync, wait_until


def test_failed_writes_are_kept_listed_and_replayed_without_undoing_newer_writes(
    prod_settings: Settings, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    options = LocalOptions(
        port=0, api_key=API_KEY, persist_dir=state, batch_timeout_seconds=TEST_BATCH_TIMEOUT_SECONDS
    )

    # Phase 1: KV refuses writes of FAULT-* keys. Three products fail through every retry.
    with running(prod_settings, dataclasses.replace(options, kv_fault_prefix="FAULT-")) as worker:
        client = SyncClient(worker.url, API_KEY)
        client.sync_product(product("FAULT-STALE", price="100.00"))
        client.sync_product(product("FAULT-DELETED", price="100.00"))
        client.sync_product(product("FAULT-ONLY", price="300.00"))
        wait_until(lambda: len(client.list_failed()) == 3, timeout=60, what="3 dead letters")
        client.close()
        # The consumer logs each batch after writing it: the records can be listed a moment earlier.
        wait_until(
            lambda: sum(batch["deadLettered"] for batch in worker.events("consumer_batch")) == 3,
            what="the consumer's log of 3 dead letters",
        )
        batches = worker.events("consumer_batch")
        # Each message was tried 1 + maxRetries times before it was kept as a dead letter.
        assert sum(batch["retried"] for batch in batches) == 3 * prod_settings.max_retries
        assert max(batch["kvOps"] for batch in batches) <= 1000

    # Phase 2: storage is healthy again, on the same persisted state.
    with running(prod_settings, options) as worker, httpx.Client(base_url=worker.url) as http:
        listed = qrsync("failed", "list", url=worker.url)
        assert listed.returncode == 0, listed.stderr
        assert "3 dead letter(s)" in listed.stdout
        assert "FAULT-ONLY" in listed.stdout
        assert "injected storage fault" in listed.stdout

        status = qrsync("status", url=worker.url)
        assert status.returncode == 2
        assert "3 message(s) wait in the dead-letter store" in status.stdout

        # Newer writes are accepted after the failed (older) ones.
        client = SyncClient(worker.url, API_KEY)
        client.sync_product(product("FAULT-STALE", price="200.00"))
        client.delete_product("FAULT-DELETED")
        wait_until(lambda: "200" in http.get("/FAULT-STALE").text, what="the newer price")

        replay = qrsync("failed", "replay", url=worker.url)
        assert replay.returncode == 0, replay.stderr
        assert "replayed 3" in replay.stdout

        wait_until(lambda: http.get("/FAULT-ONLY").status_code == 200, what="the replayed product")
        assert client.list_failed() == []
        # The replayed older documents arrived last, and lost: price stays 200, the delete holds.
        wait_until(
            lambda: sum(batch["superseded"] for batch in worker.events("consumer_batch")) >= 2,
            what="the replayed stale writes to be superseded",
        )
        assert client.get_key("FAULT-STALE")["price"] == "200.00"
        assert http.get("/FAULT-DELETED").status_code == 404
        assert qrsync("status", url=worker.url).returncode == 0
        client.close()

"""The documented teardown/recreate commands (`make recreate`, `make destroy`), with a stand-in `pulumi`.

The real CLI needs Pulumi Cloud and Cloudflare; the stand-in records its calls and answers
`stack output workerUrl` with the local Worker, so the re-seed really pushes into workerd.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from qrsync.client import SyncClient
from qrsync.local import LocalWorker
from qrsync.settings import ROOT
from tests.conftest import API_KEY, product, wait_until

FAKE_PULUMI = """#!/bin/sh
echo "$*" >> "$FAKE_PULUMI_LOG"
case "$*" in
  "stack output workerUrl --stack "*) echo "$FAKE_WORKER_URL" ;;
  "config get syncApiKey --stack "*) echo "$FAKE_API_KEY" ;;
esac
"""


def make(target: str, tmp_path: Path, worker_url: str, **variables: str) -> subprocess.CompletedProcess[str]:
    pulumi = tmp_path / "pulumi"
    pulumi.write_text(FAKE_PULUMI)
    pulumi.chmod(0o755)
    env = {
        **os.environ,
        "FAKE_PULUMI_LOG": str(tmp_path / "calls"),
        "FAKE_WORKER_URL": worker_url,
        "FAKE_API_KEY": API_KEY,
    }
    args = [f"{key}={value}" for key, value in {"PULUMI": str(pulumi), **variables}.items()]
    return subprocess.run(
        ["make", "--no-print-directory", target, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls"
    return log.read_text().splitlines() if log.exists() else []


def test_recreate_destroys_recreates_and_reseeds_staging(worker: LocalWorker, tmp_path: Path) -> None:
    catalogue = tmp_path / "catalogue.ndjson"
    docs = [product(f"RESEED-{i}") for i in range(30)]
    catalogue.write_text(
        "".join(json.dumps(doc, ensure_ascii=False) + "\n" for doc in docs), encoding="utf-8"
    )

    result = make("recreate", tmp_path, worker.url, STACK="staging", CATALOGUE=str(catalogue))

    assert result.returncode == 0, result.stderr
    assert calls(tmp_path) == [
        "destroy --stack staging --yes",
        "up --stack staging --yes",
        "stack output workerUrl --stack staging",
        "config get syncApiKey --stack staging",
    ]
    assert "accepted 30" in result.stdout
    with SyncClient(worker.url, API_KEY) as client:
        wait_until(
            lambda: all(client.call("get_key", key=d["code"])["value"] == d for d in docs[-1:]),
            what="the re-seeded catalogue",
        )


def test_destroy_refuses_prod_before_calling_pulumi(worker: LocalWorker, tmp_path: Path) -> None:
    result = make("destroy", tmp_path, worker.url, STACK="prod")
    assert result.returncode != 0
    assert "refusing to destroy prod" in result.stderr
    assert calls(tmp_path) == []


def test_export_catalogue_writes_what_seed_pushes(worker: LocalWorker, tmp_path: Path) -> None:
    with SyncClient(worker.url, API_KEY) as client:
        client.sync_product(product("EXPORT-1"))
        wait_until(lambda: "EXPORT-1" in client.list_keys()["keys"], what="EXPORT-1")
    out = tmp_path / "exported.ndjson"

    result = make("export-catalogue", tmp_path, worker.url, STACK="prod", CATALOGUE=str(out))

    assert result.returncode == 0, result.stderr
    exported = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert product("EXPORT-1") in exported
    assert calls(tmp_path) == ["stack output workerUrl --stack prod", "config get syncApiKey --stack prod"]

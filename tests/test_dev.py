"""`python -m qrsync dev`: serves once it prints its URL, keeps state unless --ephemeral, stops cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from qrsync.client import SyncClient
from tests.conftest import product, wait_until


@contextmanager
def dev(*args: str, stop: signal.Signals = signal.SIGTERM) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "qrsync", "dev", "--port", "0", "--api-key", "k", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    url = process.stdout.readline().strip()
    try:
        assert url.startswith("http://127.0.0.1:"), url + process.stderr.read()
        assert httpx.get(f"{url}/health").json()["status"] == "ok"  # serving as soon as printed
        yield url
    finally:
        process.send_signal(stop)
        assert process.wait(timeout=20) == 0
        process.stdout.close()
        process.stderr.close()


def test_state_survives_a_restart_unless_ephemeral(tmp_path: Path) -> None:
    with dev("--stack", "staging", "--state-dir", str(tmp_path)) as url, SyncClient(url, "k") as client:
        client.sync_product(product("KEPT-1"))
        wait_until(lambda: httpx.get(f"{url}/KEPT-1").status_code == 200, what="KEPT-1")
    assert (tmp_path / "staging").is_dir()

    with dev("--stack", "staging", "--state-dir", str(tmp_path), stop=signal.SIGINT) as url:
        assert httpx.get(f"{url}/KEPT-1").status_code == 200

    with dev("--stack", "staging", "--ephemeral") as url:
        assert httpx.get(f"{url}/KEPT-1").status_code == 404


def test_dev_mirrors_the_stack_config(tmp_path: Path) -> None:
    with dev("--stack", "staging", "--ephemeral") as url, SyncClient(url, "k") as client:
        assert client.health()["service"] == "elkhawaga-qr-staging"

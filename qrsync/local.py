"""The local runtime: the uploaded Worker bytes in workerd, with the bindings the stack declares."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import os
import queue
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qrsync.bindings import (
    KV_BINDING,
    Binding,
    queue_consumers,
    sync_settings,
    worker_bindings,
)
from qrsync.bundle import WORKER_SRC, Bundle, load_bundle
from qrsync.settings import ROOT, Settings

WORKER_DIR = ROOT / "worker"
RUNNER = WORKER_DIR / "runner.mjs"
STATE_DIR = ROOT / ".qrsync-state"
LOCAL_KV_ID = "local-products"
LOCAL_QUEUE_ID = "local-queue"
DEFAULT_API_KEY = "local-dev-key"
_START_TIMEOUT_SECONDS = 60


@dataclasses.dataclass(frozen=True)
class LocalOptions:
    port: int = 8787
    """0 picks a free port; the URL printed on start says which."""
    api_key: str = DEFAULT_API_KEY
    persist_dir: Path | None = None
    """None keeps all state in memory (`--ephemeral`)."""
    batch_timeout_seconds: float | None = None
    """Overrides the stack's batch window; only tests shorten it, to finish in seconds."""
    kv_fault_prefix: str | None = None
    """Make KV writes of keys under this prefix fail, to rehearse the dead-letter path."""


def runner_config(settings: Settings, bundle: Bundle, options: LocalOptions) -> dict[str, Any]:
    """Miniflare options derived from the same bindings and consumers the Pulumi component declares."""
    settings_json = json.dumps(sync_settings(settings, LOCAL_QUEUE_ID), sort_keys=True)
    bindings = worker_bindings(
        settings, kv_namespace_id=LOCAL_KV_ID, api_key=options.api_key, settings_json=settings_json
    )
    config: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": options.port,
        "persistDir": str(options.persist_dir) if options.persist_dir else None,
        "compatibilityDate": settings.compatibility_date,
        "sourceDir": str(WORKER_SRC),
        # Main module first: Miniflare treats the first module as the entry point.
        "modules": [
            {"name": name, "contentBase64": base64.b64encode(content).decode("ascii")}
            for name, content in sorted(
                bundle.modules.items(), key=lambda item: item[0] != bundle.main_module
            )
        ],
        "kvNamespaces": {},
        "queueProducers": {},
        "bindings": {},
        "queueConsumers": {},
        "kvFault": {"binding": KV_BINDING, "failPutPrefix": options.kv_fault_prefix}
        if options.kv_fault_prefix
        else None,
    }
    for binding in bindings:
        _add_binding(config, binding)
    for consumer in queue_consumers(settings):
        timeout = options.batch_timeout_seconds
        config["queueConsumers"][consumer.queue_name] = {
            "maxBatchSize": consumer.batch_size,
            "maxBatchTimeout": consumer.max_wait_time_ms / 1000 if timeout is None else timeout,
            "maxRetries": consumer.max_retries,
            **({"deadLetterQueue": consumer.dead_letter_queue} if consumer.dead_letter_queue else {}),
        }
    return config


def _add_binding(config: dict[str, Any], binding: Binding[str]) -> None:
    if binding.type == "kv_namespace":
        config["kvNamespaces"][binding.name] = binding.value
    elif binding.type == "queue":
        config["queueProducers"][binding.name] = {"queueName": binding.value}
    elif binding.type in ("plain_text", "secret_text"):
        config["bindings"][binding.name] = binding.value
    elif binding.type == "json":
        config["bindings"][binding.name] = json.loads(binding.value)
    else:
        raise ValueError(f"binding {binding.name}: type {binding.type!r} has no local equivalent")


class LocalRuntimeError(RuntimeError):
    pass


class LocalWorker:
    """A running local Worker: its URL, and the Worker's log lines as they arrive."""

    def __init__(self, process: subprocess.Popen[str], url: str, logs: list[str], pump: threading.Thread):
        self.process = process
        self.url = url
        # Every line the runner printed after it started serving, appended to as they arrive.
        self.logs = logs
        self._pump = pump

    def events(self, name: str) -> list[dict[str, Any]]:
        """The Worker's structured log lines of one event (e.g. `consumer_batch`)."""
        found = []
        for line in list(self.logs):
            start = line.find("{")
            if start < 0:
                continue
            with contextlib.suppress(ValueError):
                event = json.loads(line[start:])
                if isinstance(event, dict) and event.get("event") == name:
                    found.append(event)
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._pump.join(timeout=5)
        if self.process.stdout:
            self.process.stdout.close()


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        raise LocalRuntimeError("node is not installed: run `make setup` (Node 20 or newer)")
    if not (WORKER_DIR / "node_modules" / "miniflare").is_dir():
        raise LocalRuntimeError("worker/node_modules is missing: run `make setup` (npm ci in worker/)")
    return node


def start(settings: Settings, options: LocalOptions) -> LocalWorker:
    """Start the runner and return once the Worker answers."""
    config = runner_config(settings, load_bundle(), options)
    if options.persist_dir:
        options.persist_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [node_binary(), str(RUNNER)],
        cwd=WORKER_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "WRANGLER_SEND_METRICS": "false", "NO_COLOR": "1"},
        start_new_session=True,  # Ctrl-C reaches us, and we stop the runner in order
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(json.dumps(config))
    process.stdin.close()

    # Lines up to `listening <url>` go to the start-up wait below, every later one to the logs.
    startup: queue.Queue[str | None] = queue.Queue()
    logs: list[str] = []
    stdout = process.stdout

    def pump() -> None:
        serving = False
        for raw in stdout:
            line = raw.rstrip("\n")
            if serving:
                logs.append(line)
            else:
                serving = line.startswith("listening ")
                startup.put(line)
        startup.put(None)

    pump_thread = threading.Thread(target=pump, daemon=True)
    pump_thread.start()
    seen: list[str] = []
    while True:
        try:
            line = startup.get(timeout=_START_TIMEOUT_SECONDS)
        except queue.Empty:
            process.kill()
            process.wait()
            raise LocalRuntimeError("the local Worker did not start within 60 s") from None
        if line is None:
            process.wait()
            stdout.close()
            raise LocalRuntimeError("the local Worker exited on start: " + " | ".join(seen[-5:]))
        if line.startswith("listening "):
            return LocalWorker(process, line.removeprefix("listening ").strip(), logs, pump_thread)
        seen.append(line)


@contextlib.contextmanager
def running(settings: Settings, options: LocalOptions) -> Iterator[LocalWorker]:
    worker = start(settings, options)
    try:
        yield worker
    finally:
        worker.stop()

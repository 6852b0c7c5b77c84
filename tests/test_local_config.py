"""The local runtime is configured from the same bindings, consumers and bytes as the stack."""

from __future__ import annotations

import base64
import json

from qrsync.bindings import queue_consumers, worker_bindings
from qrsync.bundle import WORKER_SRC, load_bundle
from qrsync.local import LocalOptions, runner_config
from qrsync.settings import settings_from_stack_file


def test_runner_gets_every_binding_the_stack_declares() -> None:
    settings = settings_from_stack_file("staging")
    config = runner_config(settings, load_bundle(), LocalOptions(api_key="k"))
    declared = worker_bindings(settings, kv_namespace_id="id", api_key="k", settings_json="{}")

    local_names = set(config["kvNamespaces"]) | set(config["queueProducers"]) | set(config["bindings"])
    assert local_names == {binding.name for binding in declared}
    assert config["queueProducers"]["SYNC_QUEUE"] == {"queueName": "elkhawaga-sync-queue-staging"}
    assert config["bindings"]["SYNC_API_KEY"] == "k"
    assert config["bindings"]["SITE_NAME"] == "الخواجة"
    assert config["bindings"]["SYNC_SETTINGS"]["deadLetterQueueName"] == "elkhawaga-sync-dlq-staging"
    assert config["bindings"]["SYNC_SETTINGS"]["batchSize"] == 25
    assert config["compatibilityDate"] == settings.compatibility_date


def test_runner_consumes_both_queues_with_the_stack_settings() -> None:
    settings = settings_from_stack_file("prod")
    config = runner_config(settings, load_bundle(), LocalOptions())
    assert config["queueConsumers"] == {
        "elkhawaga-sync-queue": {
            "maxBatchSize": 25,
            "maxBatchTimeout": 5.0,
            "maxRetries": 3,
            "deadLetterQueue": "elkhawaga-sync-dlq",
        },
        "elkhawaga-sync-dlq": {"maxBatchSize": 10, "maxBatchTimeout": 5.0, "maxRetries": 10},
    }
    assert [c.queue_name for c in queue_consumers(settings)] == list(config["queueConsumers"])


def test_runner_runs_exactly_the_bytes_on_disk_with_the_main_module_first() -> None:
    config = runner_config(settings_from_stack_file("prod"), load_bundle(), LocalOptions())
    modules = {m["name"]: base64.b64decode(m["contentBase64"]) for m in config["modules"]}
    assert config["modules"][0]["name"] == "index.js"
    assert modules == {path.name: path.read_bytes() for path in WORKER_SRC.glob("*.js")}
    assert {
        "index.js",
        "sync.js",
        "admin.js",
        "queue.js",
        "consumer.js",
        "pages.js",
        "kv.js",
        "templates.js",
        "http.js",
    } <= set(modules)
    json.dumps(config)  # the runner receives it as JSON on stdin

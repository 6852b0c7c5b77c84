"""Worker bindings and queue consumers, declared once for both the stack and the local runtime."""

from __future__ import annotations

import dataclasses
from typing import Generic, TypeVar

from qrsync.settings import Settings

KV_BINDING = "PRODUCTS_KV"
QUEUE_BINDING = "SYNC_QUEUE"
API_KEY_BINDING = "SYNC_API_KEY"
SITE_NAME_BINDING = "SITE_NAME"
MAIN_SITE_URL_BINDING = "MAIN_SITE_URL"
# Queue facts the Worker needs at run time: the batch size bounds KV operations per message, the
# retry count tells the last attempt, and the queue id ties every upload to the queue it feeds,
# so a recreated queue re-uploads the script.
SETTINGS_BINDING = "SYNC_SETTINGS"

# The dead-letter queue is drained into KV by the same Worker; small batches keep each
# invocation cheap, and many retries because this is the last stop before a message is lost.
DLQ_BATCH_SIZE = 10
DLQ_MAX_RETRIES = 10

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Binding(Generic[T]):
    name: str
    type: str
    """Cloudflare's binding type: kv_namespace, queue, secret_text, plain_text or json."""
    value: T
    """Namespace id, queue name, text or JSON text; a Pulumi Output when deploying."""


@dataclasses.dataclass(frozen=True)
class Consumer:
    queue_name: str
    batch_size: int
    max_wait_time_ms: int
    max_retries: int
    dead_letter_queue: str | None
    max_concurrency: int = 1
    """One invocation at a time: the consumer's read-compare-write of a version is not atomic, so
    two concurrent batches could let an older write land after a newer one. (Miniflare runs one
    batch at a time anyway, so the local runtime needs no equivalent.)"""


def worker_bindings(
    settings: Settings, *, kv_namespace_id: T, api_key: T, settings_json: T
) -> list[Binding[T] | Binding[str]]:
    """`settings_json` is `sync_settings(...)` as JSON text (an Output when deploying)."""
    return [
        Binding(KV_BINDING, "kv_namespace", kv_namespace_id),
        Binding(QUEUE_BINDING, "queue", settings.queue_name),
        Binding(API_KEY_BINDING, "secret_text", api_key),
        Binding(SITE_NAME_BINDING, "plain_text", settings.site_name),
        Binding(MAIN_SITE_URL_BINDING, "plain_text", settings.main_site_url),
        Binding(SETTINGS_BINDING, "json", settings_json),
    ]


def sync_settings(settings: Settings, queue_id: str) -> dict[str, object]:
    return {
        "queueId": queue_id,
        "scriptName": settings.script_name,
        "queueName": settings.queue_name,
        "deadLetterQueueName": settings.dead_letter_queue_name,
        "batchSize": settings.batch_size,
        "maxRetries": settings.max_retries,
    }


def queue_consumers(settings: Settings) -> list[Consumer]:
    return [
        Consumer(
            queue_name=settings.queue_name,
            batch_size=settings.batch_size,
            max_wait_time_ms=settings.batch_timeout_seconds * 1000,
            max_retries=settings.max_retries,
            dead_letter_queue=settings.dead_letter_queue_name,
        ),
        Consumer(
            queue_name=settings.dead_letter_queue_name,
            batch_size=DLQ_BATCH_SIZE,
            max_wait_time_ms=settings.batch_timeout_seconds * 1000,
            max_retries=DLQ_MAX_RETRIES,
            dead_letter_queue=None,
        ),
    ]

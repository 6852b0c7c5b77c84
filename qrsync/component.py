"""The whole Cloudflare pipeline of one stack as a single Pulumi component."""

from __future__ import annotations

import base64
import dataclasses
import json

import pulumi
import pulumi_cloudflare as cloudflare

from qrsync.bindings import Binding, queue_consumers, sync_settings, worker_bindings
from qrsync.bundle import Bundle
from qrsync.settings import Settings

# ES modules other than the main one travel as extra parts of the same upload.
_MODULE_CONTENT_TYPE = "application/javascript+module"


@dataclasses.dataclass
class ProductPagesArgs:
    settings: Settings
    """Validated stack settings (names, ids, queue tuning, hostname)."""
    bundle: Bundle
    """The Worker modules read from worker/src at run time."""
    api_key: pulumi.Output[str]
    """The Django client's shared secret, from `require_secret`."""


class ProductPages(pulumi.ComponentResource):
    worker_url: str
    kv_namespace_id: pulumi.Output[str]
    queue_id: pulumi.Output[str]
    dead_letter_queue_id: pulumi.Output[str]
    script_name: pulumi.Output[str]
    bundle_sha256: str

    def __init__(self, name: str, args: ProductPagesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("qrsync:index:ProductPages", name, {}, opts)
        settings, bundle = args.settings, args.bundle

        # Every product, set, alias, design and dead letter lives here; protected in prod because
        # losing it takes every printed QR code offline.
        kv = cloudflare.WorkersKvNamespace(
            f"{name}-kv",
            account_id=settings.account_id,
            title=settings.kv_title,
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=settings.protect,
                import_=_import_id(settings, settings.import_kv_namespace_id),
                delete_before_replace=True,
            ),
        )

        # Messages that exhausted their retries land here instead of being deleted.
        dead_letter_queue = cloudflare.Queue(
            f"{name}-dlq",
            account_id=settings.account_id,
            queue_name=settings.dead_letter_queue_name,
            opts=pulumi.ResourceOptions(parent=self, protect=settings.protect, delete_before_replace=True),
        )

        # Buffers catalogue writes so `/sync` answers at once whatever the size of the request.
        queue = cloudflare.Queue(
            f"{name}-queue",
            account_id=settings.account_id,
            queue_name=settings.queue_name,
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=settings.protect,
                import_=_import_id(settings, settings.import_queue_id),
                delete_before_replace=True,
            ),
        )

        settings_json = queue.queue_id.apply(
            lambda queue_id: json.dumps(sync_settings(settings, queue_id), sort_keys=True)
        )
        bindings = worker_bindings(
            settings, kv_namespace_id=kv.id, api_key=args.api_key, settings_json=settings_json
        )
        main = bundle.modules[bundle.main_module]

        # The Worker itself: pages, the sync API and both queue consumers, in one ES-module upload.
        script = cloudflare.WorkersScript(
            f"{name}-script",
            account_id=settings.account_id,
            script_name=settings.script_name,
            main_module=bundle.main_module,
            content=main.decode("utf-8"),
            files={
                module: cloudflare.WorkersScriptFilesArgs(
                    content_type=_MODULE_CONTENT_TYPE,
                    content_base64=base64.b64encode(content).decode("ascii"),
                )
                for module, content in bundle.modules.items()
                if module != bundle.main_module
            },
            compatibility_date=settings.compatibility_date,
            bindings=[_binding_args(binding) for binding in bindings],
            observability=cloudflare.WorkersScriptObservabilityArgs(
                enabled=True,
                logs=cloudflare.WorkersScriptObservabilityLogsArgs(enabled=True, invocation_logs=True),
            ),
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )

        # One consumer per queue: the sync queue feeds KV, the dead-letter queue feeds the
        # dead-letter store. Both name the script's output so they follow it on every upload.
        queue_ids = {
            settings.queue_name: queue.queue_id,
            settings.dead_letter_queue_name: dead_letter_queue.queue_id,
        }
        for suffix, consumer in zip(("consumer", "dlq-consumer"), queue_consumers(settings), strict=True):
            cloudflare.QueueConsumer(
                f"{name}-{suffix}",
                account_id=settings.account_id,
                queue_id=queue_ids[consumer.queue_name],
                script_name=script.script_name,
                type="worker",
                dead_letter_queue=consumer.dead_letter_queue,
                settings=cloudflare.QueueConsumerSettingsArgs(
                    batch_size=consumer.batch_size,
                    max_wait_time_ms=consumer.max_wait_time_ms,
                    max_retries=consumer.max_retries,
                    max_concurrency=consumer.max_concurrency,
                ),
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[dead_letter_queue],
                    # A recreated queue gets a new consumer, whatever the provider's diff says.
                    replace_on_changes=["queue_id"],
                    # A queue takes one Worker consumer, so the old one must go before its successor.
                    delete_before_replace=True,
                ),
            )

        if settings.custom_domain:
            # Cloudflare creates and owns the DNS record of a custom domain.
            cloudflare.WorkersCustomDomain(
                f"{name}-domain",
                account_id=settings.account_id,
                zone_id=settings.zone_id,
                hostname=settings.hostname,
                service=script.script_name,
                opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
            )
        else:
            # Sends every path of the QR hostname to the Worker; the proxied DNS record already exists.
            cloudflare.WorkersRoute(
                f"{name}-route",
                zone_id=settings.zone_id,
                pattern=f"{settings.hostname}/*",
                script=script.script_name,
                opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
            )

        self.worker_url = settings.worker_url
        self.kv_namespace_id = kv.id
        self.queue_id = queue.queue_id
        self.dead_letter_queue_id = dead_letter_queue.queue_id
        self.script_name = script.script_name
        self.bundle_sha256 = bundle.sha256
        self.register_outputs(
            {
                "workerUrl": self.worker_url,
                "kvNamespaceId": self.kv_namespace_id,
                "queueId": self.queue_id,
                "deadLetterQueueId": self.dead_letter_queue_id,
                "scriptName": self.script_name,
                "bundleSha256": self.bundle_sha256,
            }
        )


def _import_id(settings: Settings, resource_id: str | None) -> str | None:
    return f"{settings.account_id}/{resource_id}" if resource_id else None


def _binding_args(binding: Binding[pulumi.Output[str]] | Binding[str]) -> cloudflare.WorkersScriptBindingArgs:
    name, kind, value = binding.name, binding.type, binding.value
    match kind:
        case "kv_namespace":
            return cloudflare.WorkersScriptBindingArgs(name=name, type=kind, namespace_id=value)
        case "queue":
            return cloudflare.WorkersScriptBindingArgs(name=name, type=kind, queue_name=value)
        case "secret_text" | "plain_text":
            return cloudflare.WorkersScriptBindingArgs(name=name, type=kind, text=value)
        case "json":
            return cloudflare.WorkersScriptBindingArgs(name=name, type=kind, json=value)
    raise ValueError(f"binding {name}: unsupported type {kind!r}")

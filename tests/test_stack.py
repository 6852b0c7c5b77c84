"""The stack under Pulumi mocks: every resource, property and option of prod and staging.

The mocks echo inputs and add only what Cloudflare computes (ids). A recording monitor keeps each
`RegisterResourceRequest` exactly as the SDK sends it to the engine, so resource options (parent,
protect, import id, delete-before-replace, dependencies) are asserted from what the component really
passed, not from a re-implementation of it.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import runpy
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.sync_await import _sync_await

from qrsync.bundle import load_bundle
from qrsync.component import ProductPages, ProductPagesArgs
from qrsync.settings import load_settings, stack_file_values

ROOT = Path(__file__).resolve().parent.parent
WORKER_SRC = ROOT / "worker" / "src"
PROJECT = "elkhawaga-qr"
ACCOUNT_ID = "0123456789abcdef0123456789abcdef"
ZONE_ID = "fedcba9876543210fedcba9876543210"
API_KEY = "test-key-5f2c9a71e4d3b8a6"  # searched for in every recorded value: it must only appear as a secret
LIVE_KV_ID = "5dad2f4d72b246758bdafa17dfe4eb10"
LIVE_QUEUE_ID = "9c1d7e0b3a5f48e2a6d4c8b0f1e3a5d7"
MODULE_CONTENT_TYPE = "application/javascript+module"

COMPONENT = "qrsync:index:ProductPages"
KV = "cloudflare:index/workersKvNamespace:WorkersKvNamespace"
QUEUE = "cloudflare:index/queue:Queue"
SCRIPT = "cloudflare:index/workersScript:WorkersScript"
CONSUMER = "cloudflare:index/queueConsumer:QueueConsumer"
ROUTE = "cloudflare:index/workersRoute:WorkersRoute"
DOMAIN = "cloudflare:index/workersCustomDomain:WorkersCustomDomain"

NAMES = {
    "prod": {
        "script": "elkhawaga-qr",
        "queue": "elkhawaga-sync-queue",
        "dlq": "elkhawaga-sync-dlq",
        "kv": "elkhawaga-qr",
        "hostname": "qr.elkhawaga.uk",
    },
    "staging": {
        "script": "elkhawaga-qr-staging",
        "queue": "elkhawaga-sync-queue-staging",
        "dlq": "elkhawaga-sync-dlq-staging",
        "kv": "elkhawaga-qr-staging",
        "hostname": "qr-staging.elkhawaga.uk",
    },
}
CHILDREN = {
    "prod": {
        "qr-kv": KV,
        "qr-queue": QUEUE,
        "qr-dlq": QUEUE,
        "qr-script": SCRIPT,
        "qr-consumer": CONSUMER,
        "qr-dlq-consumer": CONSUMER,
        "qr-route": ROUTE,
    },
    "staging": {
        "qr-kv": KV,
        "qr-queue": QUEUE,
        "qr-dlq": QUEUE,
        "qr-script": SCRIPT,
        "qr-consumer": CONSUMER,
        "qr-dlq-consumer": CONSUMER,
        "qr-domain": DOMAIN,
    },
}
STACKS = ["prod", "staging"]


def hex32(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:32]


class CloudflareMocks(pulumi.runtime.Mocks):
    """Echo the inputs; add the ids Cloudflare computes, deterministically; record every call."""

    def __init__(self) -> None:
        self.calls: list[MockResourceArgs] = []
        self.queue_id_salt = ""
        """Changing it makes every queue come back with a new id, as a recreated queue would."""

    def queue_id(self, queue_name: str) -> str:
        return hex32("queue", queue_name, self.queue_id_salt)

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.calls.append(args)
        outputs = dict(args.inputs)
        # An import id is `<accountId>/<id>`: the adopted resource keeps its id.
        imported = args.resource_id.rpartition("/")[2] if args.resource_id else None
        if args.typ == KV:
            return imported or hex32("kv", args.inputs["title"]), outputs
        if args.typ == QUEUE:
            queue_id = imported or self.queue_id(args.inputs["queueName"])
            return queue_id, {**outputs, "queueId": queue_id}
        if args.typ == SCRIPT:
            return args.inputs["scriptName"], outputs
        if args.typ == CONSUMER:
            consumer_id = hex32("consumer", args.inputs["queueId"])
            return consumer_id, {**outputs, "consumerId": consumer_id}
        if args.custom:
            return hex32(args.typ, args.name), outputs
        return "", outputs

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], None]:
        raise AssertionError(f"the stack makes no provider calls, got {args.token}")


class RecordingMonitor(MockMonitor):
    """The mock engine, keeping every registration request, response and registered output set."""

    def __init__(self, mocks: CloudflareMocks) -> None:
        super().__init__(mocks)
        self.requests: dict[str, resource_pb2.RegisterResourceRequest] = {}
        self.urns: dict[str, str] = {}
        self.registered_outputs: list[tuple[str, dict[str, Any]]] = []

    def RegisterResource(self, request: Any) -> Any:  # named after the gRPC method it serves
        response = super().RegisterResource(request)
        self.requests[request.name] = request
        self.urns[request.name] = response.urn
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:
        self.registered_outputs.append((request.urn, rpc.deserialize_properties(request.outputs)))
        return super().RegisterResourceOutputs(request)


@dataclasses.dataclass
class Deployment:
    resources: dict[str, MockResourceArgs]
    """What the mocks received, by logical name."""
    requests: dict[str, resource_pb2.RegisterResourceRequest]
    """What the SDK sent to the engine (options included), by logical name."""
    urns: dict[str, str]
    states: list[dict[str, Any]]
    """Every state the mocked provider returned."""
    registered_outputs: list[tuple[str, dict[str, Any]]]
    outputs: dict[str, Any]
    """The component's public outputs, resolved."""

    def inputs(self, name: str) -> dict[str, Any]:
        return self.resources[name].inputs

    def bindings(self) -> dict[str, dict[str, Any]]:
        bindings = unwrap(self.inputs("qr-script")["bindings"])
        by_name = {binding["name"]: binding for binding in bindings}
        assert len(by_name) == len(bindings), "binding names must be unique"
        return by_name

    def sync_settings(self) -> dict[str, Any]:
        binding = self.bindings()["SYNC_SETTINGS"]
        assert binding["type"] == "json"
        return json.loads(binding["json"])


class Harness:
    def __init__(self) -> None:
        self.mocks = CloudflareMocks()
        self.monitor = RecordingMonitor(self.mocks)

    def install(self, stack: str) -> None:
        """Fresh mocks, recordings and root stack for `stack`."""
        self.mocks.calls.clear()
        self.monitor.requests.clear()
        self.monitor.urns.clear()
        self.monitor.resources.clear()
        self.monitor.registered_outputs.clear()
        pulumi.runtime.reset_options()  # drops the previous root stack
        pulumi.runtime.set_mocks(
            self.mocks, project=PROJECT, stack=stack, preview=False, monitor=self.monitor
        )

    def snapshot(self, outputs: dict[str, Any]) -> Deployment:
        resources = {args.name: args for args in self.mocks.calls}
        assert len(resources) == len(self.mocks.calls), "logical names must be unique"
        return Deployment(
            resources=resources,
            requests=dict(self.monitor.requests),
            urns=dict(self.monitor.urns),
            states=[registration.state for registration in self.monitor.resources.values()],
            registered_outputs=list(self.monitor.registered_outputs),
            outputs=outputs,
        )

    def deploy(self, stack: str, **config: Any) -> Deployment:
        """Build ProductPages as `stack` would: its committed stack file, real-looking ids, `config`."""
        settings = load_settings(
            stack, {**stack_file_values(stack), "accountId": ACCOUNT_ID, "zoneId": ZONE_ID, **config}
        )
        self.install(stack)
        outputs: dict[str, Any] = {}

        @pulumi.runtime.test
        def program() -> pulumi.Output[None]:
            pages = ProductPages(
                "qr",
                ProductPagesArgs(
                    settings=settings, bundle=load_bundle(), api_key=pulumi.Output.secret(API_KEY)
                ),
            )
            return pulumi.Output.all(
                workerUrl=pages.worker_url,
                kvNamespaceId=pages.kv_namespace_id,
                queueId=pages.queue_id,
                deadLetterQueueId=pages.dead_letter_queue_id,
                scriptName=pages.script_name,
                bundleSha256=pages.bundle_sha256,
            ).apply(outputs.update)

        program()
        # Resolved only if every output resolved: an empty dict means the checks below cannot pass.
        assert set(outputs) == {
            "workerUrl",
            "kvNamespaceId",
            "queueId",
            "deadLetterQueueId",
            "scriptName",
            "bundleSha256",
        }
        return self.snapshot(outputs)


@pytest.fixture(autouse=True)
def harness(monkeypatch: pytest.MonkeyPatch) -> Harness:
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)
    pulumi.runtime.set_all_config({}, secret_keys=[])
    harness = Harness()
    harness.install("prod")
    return harness


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


def unwrap(value: Any) -> Any:
    return value["value"] if is_secret(value) else value


def plaintext_paths(value: Any, needle: str, path: str = "$") -> tuple[list[str], list[str]]:
    """Where `needle` occurs: (paths outside any secret, paths inside a secret)."""
    if is_secret(value):
        outside, inside = plaintext_paths(value["value"], needle, path)
        return [], outside + inside
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return ([path] if isinstance(value, str) and needle in value else []), []
    outside, inside = [], []
    for key, item in items:
        found_outside, found_inside = plaintext_paths(item, needle, f"{path}.{key}")
        outside += found_outside
        inside += found_inside
    return outside, inside


def expected_bundle_sha256() -> str:
    """The documented scheme, from the files on disk: sorted names, `name NUL bytes NUL` each."""
    digest = hashlib.sha256()
    for path in sorted(WORKER_SRC.glob("*.js"), key=lambda path: path.name):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def pinned_compatibility_date() -> str:
    schema = yaml.safe_load((ROOT / "Pulumi.yaml").read_text(encoding="utf-8"))["config"]
    return schema["compatibilityDate"]["default"]


def expected_kv_id(stack: str) -> str:
    """Prod adopts the live namespace (Pulumi.prod.yaml); other stacks get the id the mock computes."""
    return LIVE_KV_ID if stack == "prod" else hex32("kv", NAMES[stack]["kv"])


def child_urn(stack: str, typ: str, name: str) -> str:
    return f"urn:pulumi:{stack}::{PROJECT}::{COMPONENT}${typ}::{name}"


# --- resources, names and parenting -------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_exactly_the_expected_resources_all_children_of_the_component(harness: Harness, stack: str) -> None:
    deployment = harness.deploy(stack)
    assert {name: args.typ for name, args in deployment.resources.items()} == {
        "qr": COMPONENT,
        **CHILDREN[stack],
    }
    assert deployment.resources["qr"].custom is False
    component_urn = deployment.urns["qr"]
    assert component_urn.endswith(f"{COMPONENT}::qr")
    for name, typ in CHILDREN[stack].items():
        assert deployment.resources[name].custom is True, name
        assert deployment.requests[name].parent == component_urn, name
        assert deployment.urns[name] == child_urn(stack, typ, name)


@pytest.mark.parametrize("stack", STACKS)
def test_kv_namespace(harness: Harness, stack: str) -> None:
    deployment = harness.deploy(stack)
    assert deployment.inputs("qr-kv") == {"accountId": ACCOUNT_ID, "title": NAMES[stack]["kv"]}


@pytest.mark.parametrize("stack", STACKS)
def test_sync_queue_and_dead_letter_queue(harness: Harness, stack: str) -> None:
    deployment = harness.deploy(stack)
    assert deployment.inputs("qr-queue") == {"accountId": ACCOUNT_ID, "queueName": NAMES[stack]["queue"]}
    assert deployment.inputs("qr-dlq") == {"accountId": ACCOUNT_ID, "queueName": NAMES[stack]["dlq"]}


@pytest.mark.parametrize("stack", STACKS)
def test_worker_script_is_uploaded_as_es_modules_from_disk(harness: Harness, stack: str) -> None:
    script = harness.deploy(stack).inputs("qr-script")
    assert set(script) == {
        "accountId",
        "scriptName",
        "mainModule",
        "content",
        "files",
        "compatibilityDate",
        "bindings",
        "observability",
    }
    assert script["accountId"] == ACCOUNT_ID
    assert script["scriptName"] == NAMES[stack]["script"]
    assert script["mainModule"] == "index.js"
    assert script["content"].encode("utf-8") == (WORKER_SRC / "index.js").read_bytes()
    others = sorted(path for path in WORKER_SRC.glob("*.js") if path.name != "index.js")
    assert others, "worker/src holds more than index.js"
    assert script["files"] == {
        path.name: {
            "contentType": MODULE_CONTENT_TYPE,
            "contentBase64": base64.b64encode(path.read_bytes()).decode(),
        }
        for path in others
    }
    assert script["compatibilityDate"] == pinned_compatibility_date() == "2026-04-01"
    assert script["observability"]["enabled"] is True
    assert script["observability"]["logs"]["enabled"] is True


@pytest.mark.parametrize("stack", STACKS)
def test_worker_bindings(harness: Harness, stack: str) -> None:
    deployment = harness.deploy(stack)
    bindings = deployment.bindings()
    sync_settings = json.loads(bindings["SYNC_SETTINGS"].pop("json"))  # its content: the next test
    assert bindings == {
        "PRODUCTS_KV": {
            "name": "PRODUCTS_KV",
            "type": "kv_namespace",
            "namespaceId": deployment.outputs["kvNamespaceId"],
        },
        "SYNC_QUEUE": {"name": "SYNC_QUEUE", "type": "queue", "queueName": NAMES[stack]["queue"]},
        "SYNC_API_KEY": {"name": "SYNC_API_KEY", "type": "secret_text", "text": API_KEY},
        "SITE_NAME": {"name": "SITE_NAME", "type": "plain_text", "text": "الخواجة"},
        "MAIN_SITE_URL": {"name": "MAIN_SITE_URL", "type": "plain_text", "text": "https://www.elkhawaga.uk"},
        "SYNC_SETTINGS": {"name": "SYNC_SETTINGS", "type": "json"},
    }
    assert isinstance(sync_settings, dict)
    # The namespace bound is the one the stack created (staging) or adopted (prod), not a literal.
    assert deployment.outputs["kvNamespaceId"] == expected_kv_id(stack)


@pytest.mark.parametrize("stack", STACKS)
def test_sync_settings_binding_names_the_queue_it_feeds(harness: Harness, stack: str) -> None:
    deployment = harness.deploy(stack)
    assert deployment.sync_settings() == {
        "queueId": harness.mocks.queue_id(NAMES[stack]["queue"]),
        "scriptName": NAMES[stack]["script"],
        "queueName": NAMES[stack]["queue"],
        "deadLetterQueueName": NAMES[stack]["dlq"],
        "batchSize": 25,
        "maxRetries": 3,
    }
    assert deployment.sync_settings()["queueId"] == deployment.outputs["queueId"]


@pytest.mark.parametrize("stack", STACKS)
def test_queue_consumers(harness: Harness, stack: str) -> None:
    deployment = harness.deploy(stack)
    assert deployment.inputs("qr-consumer") == {
        "accountId": ACCOUNT_ID,
        "queueId": deployment.outputs["queueId"],
        "scriptName": NAMES[stack]["script"],
        "type": "worker",
        "deadLetterQueue": NAMES[stack]["dlq"],  # the dead-letter queue's *name*, as the API wants
        "settings": {"batchSize": 25, "maxWaitTimeMs": 5000, "maxRetries": 3, "maxConcurrency": 1},
    }
    dlq_consumer = deployment.inputs("qr-dlq-consumer")
    assert dlq_consumer["accountId"] == ACCOUNT_ID
    assert dlq_consumer["queueId"] == deployment.outputs["deadLetterQueueId"]
    assert dlq_consumer["scriptName"] == NAMES[stack]["script"]
    assert dlq_consumer["type"] == "worker"
    assert set(dlq_consumer) == {
        "accountId",
        "queueId",
        "scriptName",
        "type",
        "settings",
    }  # no dead-letter queue
    assert dlq_consumer["settings"] == {
        "batchSize": 10,
        "maxWaitTimeMs": 5000,
        "maxRetries": 10,
        "maxConcurrency": 1,
    }


def test_prod_routes_its_hostname_without_a_custom_domain(harness: Harness) -> None:
    deployment = harness.deploy("prod")
    assert deployment.inputs("qr-route") == {
        "zoneId": ZONE_ID,
        "pattern": "qr.elkhawaga.uk/*",
        "script": "elkhawaga-qr",
    }
    assert not any(args.typ == DOMAIN for args in deployment.resources.values())


def test_staging_serves_a_custom_domain_without_a_route(harness: Harness) -> None:
    deployment = harness.deploy("staging")
    assert deployment.inputs("qr-domain") == {
        "accountId": ACCOUNT_ID,
        "zoneId": ZONE_ID,
        "hostname": "qr-staging.elkhawaga.uk",
        "service": "elkhawaga-qr-staging",
    }
    assert not any(args.typ == ROUTE for args in deployment.resources.values())


# --- the API key ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_api_key_stays_secret_everywhere(harness: Harness, stack: str) -> None:
    deployment = harness.deploy(stack)
    assert is_secret(deployment.inputs("qr-script")["bindings"])
    everything = {
        "inputs": {name: args.inputs for name, args in deployment.resources.items()},
        "states": deployment.states,
        "registered_outputs": [outputs for _, outputs in deployment.registered_outputs],
        "component_outputs": deployment.outputs,
    }
    outside, inside = plaintext_paths(everything, API_KEY)
    assert outside == []
    # The check saw the key: it travels, as a secret, in the script's bindings only.
    assert any(path.startswith("$.inputs.qr-script.bindings.") for path in inside)
    assert all(".bindings." in path for path in inside), inside
    assert deployment.bindings()["SYNC_API_KEY"] == {
        "name": "SYNC_API_KEY",
        "type": "secret_text",
        "text": API_KEY,
    }


# --- options: import, protect, delete-before-replace, dependencies ------------------------------------


def test_prod_adopts_the_live_kv_namespace_and_protects_kv_and_queues(harness: Harness) -> None:
    deployment = harness.deploy("prod")  # Pulumi.prod.yaml: importKvNamespaceId, protect: true
    requests = deployment.requests
    assert requests["qr-kv"].importId == f"{ACCOUNT_ID}/{LIVE_KV_ID}"
    assert deployment.outputs["kvNamespaceId"] == LIVE_KV_ID
    for name in ("qr-queue", "qr-dlq", "qr-script", "qr-consumer", "qr-dlq-consumer", "qr-route"):
        assert requests[name].importId == "", name
    for name in ("qr-kv", "qr-queue", "qr-dlq"):
        assert requests[name].protect is True, name
    for name in ("qr-script", "qr-consumer", "qr-dlq-consumer", "qr-route"):
        assert requests[name].protect is False, name


def test_prod_adopts_the_live_queue_when_configured(harness: Harness) -> None:
    deployment = harness.deploy("prod", importQueueId=LIVE_QUEUE_ID)
    assert deployment.requests["qr-queue"].importId == f"{ACCOUNT_ID}/{LIVE_QUEUE_ID}"
    assert deployment.requests["qr-dlq"].importId == ""
    assert deployment.requests["qr-kv"].importId == f"{ACCOUNT_ID}/{LIVE_KV_ID}"
    # Everything fed by the queue names the adopted queue.
    assert deployment.outputs["queueId"] == LIVE_QUEUE_ID
    assert deployment.inputs("qr-consumer")["queueId"] == LIVE_QUEUE_ID
    assert deployment.sync_settings()["queueId"] == LIVE_QUEUE_ID


def test_prod_creates_a_new_kv_namespace_when_nothing_is_imported(harness: Harness) -> None:
    deployment = harness.deploy("prod", importKvNamespaceId="", protect=False)
    assert all(request.importId == "" for request in deployment.requests.values())
    assert all(request.protect is False for request in deployment.requests.values())


def test_staging_imports_nothing_and_protects_nothing(harness: Harness) -> None:
    deployment = harness.deploy("staging")
    for name in CHILDREN["staging"]:
        assert deployment.requests[name].importId == "", name
        assert deployment.requests[name].protect is False, name
    assert deployment.outputs["kvNamespaceId"] != LIVE_KV_ID


@pytest.mark.parametrize("stack", STACKS)
def test_delete_before_replace(harness: Harness, stack: str) -> None:
    deployment = harness.deploy(stack)
    edge = "qr-route" if stack == "prod" else "qr-domain"
    for name in ("qr-kv", "qr-queue", "qr-dlq", "qr-script", "qr-consumer", "qr-dlq-consumer", edge):
        request = deployment.requests[name]
        assert request.deleteBeforeReplaceDefined is True, name
        assert request.deleteBeforeReplace is True, name


@pytest.mark.parametrize("stack", STACKS)
def test_dependency_order_for_destroy_and_recreate(harness: Harness, stack: str) -> None:
    deployment = harness.deploy(stack)
    urn = deployment.urns

    def depends(name: str) -> set[str]:
        return set(deployment.requests[name].dependencies)

    def property_depends(name: str, prop: str) -> set[str]:
        return set(deployment.requests[name].propertyDependencies[prop].urns)

    # The script binds the KV namespace and names the queue's id.
    assert {urn["qr-kv"], urn["qr-queue"]} <= depends("qr-script")
    assert property_depends("qr-script", "bindings") >= {urn["qr-kv"], urn["qr-queue"]}
    # A consumer needs its queue, the dead-letter queue it forwards to, and the script it runs.
    assert {urn["qr-script"], urn["qr-queue"], urn["qr-dlq"]} <= depends("qr-consumer")
    assert property_depends("qr-consumer", "queueId") == {urn["qr-queue"]}
    assert property_depends("qr-consumer", "scriptName") == {urn["qr-script"]}
    assert {urn["qr-script"], urn["qr-dlq"]} <= depends("qr-dlq-consumer")
    assert property_depends("qr-dlq-consumer", "queueId") == {urn["qr-dlq"]}
    edge = "qr-route" if stack == "prod" else "qr-domain"
    assert urn["qr-script"] in depends(edge)
    # Nothing the script needs depends on the script or on a consumer (no cycle).
    for name in ("qr-kv", "qr-queue", "qr-dlq"):
        assert depends(name) == set(), name


def test_recreated_queue_forces_script_update_and_consumer_replacement(harness: Harness) -> None:
    before = harness.deploy("prod")
    harness.mocks.queue_id_salt = "recreated"
    after = harness.deploy("prod")
    assert before.outputs["queueId"] != after.outputs["queueId"]
    # The upload changes with the queue's id, so a recreated queue re-uploads the script.
    assert before.sync_settings()["queueId"] == before.outputs["queueId"]
    assert after.sync_settings()["queueId"] == after.outputs["queueId"]
    assert before.bindings()["SYNC_SETTINGS"] != after.bindings()["SYNC_SETTINGS"]
    # The consumer's queue_id is the queue's computed id, so the consumer follows the new queue.
    assert before.inputs("qr-consumer")["queueId"] == before.outputs["queueId"]
    assert after.inputs("qr-consumer")["queueId"] == after.outputs["queueId"]
    assert after.inputs("qr-dlq-consumer")["queueId"] == after.outputs["deadLetterQueueId"]
    # ...and a changed queue id replaces the consumer (delete first: a queue takes one consumer).
    for name in ("qr-consumer", "qr-dlq-consumer"):
        assert list(after.requests[name].replaceOnChanges) == ["queueId"], name
        assert after.requests[name].deleteBeforeReplace is True, name


# --- outputs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_component_outputs(harness: Harness, stack: str) -> None:
    deployment = harness.deploy(stack)
    names = NAMES[stack]
    expected = {
        "workerUrl": f"https://{names['hostname']}",
        "kvNamespaceId": expected_kv_id(stack),
        "queueId": harness.mocks.queue_id(names["queue"]),
        "deadLetterQueueId": harness.mocks.queue_id(names["dlq"]),
        "scriptName": names["script"],
        "bundleSha256": expected_bundle_sha256(),
    }
    assert deployment.outputs == expected
    registered = [outputs for urn, outputs in deployment.registered_outputs if urn == deployment.urns["qr"]]
    assert registered == [expected]


# --- the real program ---------------------------------------------------------------------------------


def cli_config(stack: str, **extra: str) -> dict[str, str]:
    """The stack's config as `pulumi up` hands it to the program: `project:key` to text."""
    values: dict[str, Any] = {**stack_file_values(stack), "accountId": ACCOUNT_ID, "zoneId": ZONE_ID, **extra}
    text = {
        key: str(value).lower() if isinstance(value, bool) else str(value) for key, value in values.items()
    }
    return {f"{PROJECT}:{key}": value for key, value in text.items()}


def run_main(harness: Harness, stack: str, config: dict[str, str]) -> Deployment:
    """Run `__main__.py` as the Python language host does: inside a fresh root stack."""
    harness.install(stack)
    pulumi.runtime.settings.set_root_resource(None)  # type: ignore[arg-type]  # run_in_stack makes its own
    pulumi.runtime.set_all_config(config, secret_keys=[f"{PROJECT}:syncApiKey"])
    _sync_await(
        pulumi.runtime.run_in_stack(lambda: runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__"))
    )
    return harness.snapshot({})


@pytest.mark.parametrize("stack", STACKS)
def test_main_program_builds_the_stack_and_exports_its_outputs(harness: Harness, stack: str) -> None:
    deployment = run_main(harness, stack, {**cli_config(stack), f"{PROJECT}:syncApiKey": API_KEY})
    assert {name: args.typ for name, args in deployment.resources.items()} == {
        "qr": COMPONENT,
        **CHILDREN[stack],
    }
    stack_urn = f"urn:pulumi:{stack}::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-{stack}"
    exports = [outputs for urn, outputs in deployment.registered_outputs if urn == stack_urn and outputs]
    assert len(exports) == 1, deployment.registered_outputs
    names = NAMES[stack]
    assert exports[0] == {
        "workerUrl": f"https://{names['hostname']}",
        "kvNamespaceId": expected_kv_id(stack),
        "queueId": harness.mocks.queue_id(names["queue"]),
        "deadLetterQueueId": harness.mocks.queue_id(names["dlq"]),
        "scriptName": names["script"],
        "bundleSha256": expected_bundle_sha256(),
    }
    # Config reached the resources: the stack file's options and the secret key.
    assert deployment.requests["qr-kv"].protect is (stack == "prod")
    assert deployment.requests["qr-kv"].importId == (f"{ACCOUNT_ID}/{LIVE_KV_ID}" if stack == "prod" else "")
    assert deployment.bindings()["SYNC_API_KEY"]["text"] == API_KEY
    everything = {
        "inputs": {name: args.inputs for name, args in deployment.resources.items()},
        "states": deployment.states,
        "registered_outputs": [outputs for _, outputs in deployment.registered_outputs],
    }
    outside, inside = plaintext_paths(everything, API_KEY)
    assert outside == []
    assert inside


def test_main_program_without_api_key_stops_with_the_command_to_set_it(harness: Harness) -> None:
    with pytest.raises(pulumi.ConfigMissingError) as error:
        run_main(harness, "staging", cli_config("staging"))
    assert f"pulumi config set --secret {PROJECT}:syncApiKey" in str(error.value)
    assert not any(args.custom for args in harness.mocks.calls)

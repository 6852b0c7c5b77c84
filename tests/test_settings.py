"""Stack settings: pure validation and name derivation, no Pulumi engine involved."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from qrsync.settings import (
    load_settings,
    project_defaults,
    settings_from_stack_file,
    stack_file_values,
)

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_ID = "0123456789abcdef0123456789abcdef"
ZONE_ID = "fedcba9876543210fedcba9876543210"
# What a deployable stack needs besides the defaults of Pulumi.yaml.
IDS = {"accountId": ACCOUNT_ID, "zoneId": ZONE_ID}
_QUEUE_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_SCRIPT_NAME = re.compile(r"[a-z0-9_][a-z0-9_-]*")


def settings(stack: str = "prod", **values: Any):
    return load_settings(stack, {**IDS, **values})


# --- one test per validation error ------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("batchSize", 0, r"batchSize: 0 is out of range \(allowed: 1-100\)"),
        ("batchSize", 101, r"batchSize: 101 is out of range \(allowed: 1-100\)"),
        ("batchSize", "abc", r"batchSize: 'abc' is not a whole number \(allowed: 1-100\)"),
        ("batchTimeoutSeconds", -1, r"batchTimeoutSeconds: -1 is out of range \(allowed: 0-60 seconds\)"),
        ("batchTimeoutSeconds", 61, r"batchTimeoutSeconds: 61 is out of range \(allowed: 0-60 seconds\)"),
        ("maxRetries", -1, r"maxRetries: -1 is out of range \(allowed: 0-100\)"),
        ("maxRetries", 101, r"maxRetries: 101 is out of range \(allowed: 0-100\)"),
    ],
)
def test_queue_tuning_out_of_range_is_rejected(key: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        settings(**{key: value})


@pytest.mark.parametrize(
    "name",
    ["Elkhawaga-QR", "elkhawaga.qr", "elkhawaga qr", "qr/worker", "a" * 64],
    ids=["uppercase", "dot", "space", "slash", "64-chars"],
)
def test_invalid_script_name_is_rejected(name: str) -> None:
    with pytest.raises(ValueError, match=r"^scriptName: .* is not a valid name"):
        settings(scriptName=name)


def test_script_name_of_63_characters_is_accepted() -> None:
    assert settings(scriptName="a" * 63).script_name == "a" * 63


@pytest.mark.parametrize(
    "name",
    ["Sync-Queue", "sync_queue", "-sync-queue", "sync-queue-", "q" * 64],
    ids=["uppercase", "underscore", "leading-dash", "trailing-dash", "64-chars"],
)
def test_invalid_queue_name_is_rejected(name: str) -> None:
    with pytest.raises(ValueError, match=r"^queueName: .* is not a valid name"):
        settings(queueName=name)


def test_invalid_dead_letter_queue_name_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"^deadLetterQueueName: .* is not a valid name"):
        settings(deadLetterQueueName="Sync_DLQ")


def test_dead_letter_queue_equal_to_queue_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"deadLetterQueueName: 'same-queue' must differ from queueName"):
        settings(queueName="same-queue", deadLetterQueueName="same-queue")


def test_kv_title_over_512_characters_is_rejected() -> None:
    assert settings(kvTitle="t" * 512).kv_title == "t" * 512
    with pytest.raises(ValueError, match=r"^kvTitle: .* is not a valid title \(allowed: 1-512"):
        settings(kvTitle="t" * 513)


def test_kv_title_with_control_character_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"^kvTitle: .* is not a valid title"):
        settings(kvTitle="elkhawaga\nqr")


def test_placeholder_account_id_names_the_command_that_fixes_it() -> None:
    with pytest.raises(ValueError, match=r"^accountId: 'SET-ME-accountId' is not a Cloudflare id") as error:
        load_settings("prod", {"accountId": "SET-ME-accountId", "zoneId": ZONE_ID}, deploy=True)
    assert "pulumi config set accountId" in str(error.value)


def test_placeholder_zone_id_names_the_command_that_fixes_it() -> None:
    with pytest.raises(ValueError, match=r"^zoneId: 'SET-ME-zoneId' is not a Cloudflare id") as error:
        load_settings("prod", {"accountId": ACCOUNT_ID, "zoneId": "SET-ME-zoneId"}, deploy=True)
    assert "pulumi config set zoneId" in str(error.value)


@pytest.mark.parametrize(
    "zone_id",
    ["fedcba9876543210fedcba987654321g", "FEDCBA9876543210FEDCBA9876543210", "fedcba98", ""],
    ids=["non-hex", "uppercase", "short", "empty"],
)
def test_non_hex_zone_id_is_rejected(zone_id: str) -> None:
    with pytest.raises(ValueError, match=r"^zoneId: .* is not a Cloudflare id \(allowed: 32 lowercase hex"):
        settings(zoneId=zone_id)


@pytest.mark.parametrize(
    "hostname",
    ["qr..elkhawaga.uk", "-qr.elkhawaga.uk", "localhost", "QR.elkhawaga.uk", "qr.elkhawaga.uk."],
)
def test_invalid_hostname_is_rejected(hostname: str) -> None:
    with pytest.raises(ValueError, match=r"^hostname: .* is not a hostname"):
        settings(hostname=hostname)


@pytest.mark.parametrize("date", ["2026-13-01", "tomorrow", "2026-02-30", "2026-4-1"])
def test_invalid_compatibility_date_is_rejected(date: str) -> None:
    with pytest.raises(ValueError, match=r"^compatibilityDate: .* is not a date \(allowed: YYYY-MM-DD\)"):
        settings(compatibilityDate=date)


@pytest.mark.parametrize(
    "url",
    ["http://www.elkhawaga.uk", "javascript:alert(1)", 'https://www.elkhawaga.uk/"><script>'],
    ids=["http", "javascript", "quote-injection"],
)
def test_main_site_url_must_be_https(url: str) -> None:
    with pytest.raises(ValueError, match=r"^mainSiteUrl: .* is not an https URL"):
        settings(mainSiteUrl=url)


@pytest.mark.parametrize("key", ["importKvNamespaceId", "importQueueId"])
def test_non_hex_import_id_is_rejected(key: str) -> None:
    with pytest.raises(ValueError, match=rf"^{key}: 'not-a-namespace-id' is not a Cloudflare id"):
        settings(**{key: "not-a-namespace-id"})


@pytest.mark.parametrize("key", ["customDomain", "protect"])
def test_non_boolean_flag_is_rejected(key: str) -> None:
    with pytest.raises(ValueError, match=rf"^{key}: 'maybe' is not a boolean \(allowed: true or false\)"):
        settings(**{key: "maybe"})


@pytest.mark.parametrize("stack", ["", "prod/eu", "dev alice", "a" * 101])
def test_invalid_stack_name_is_rejected(stack: str) -> None:
    with pytest.raises(ValueError, match=r"^stack: .* is not a valid stack name"):
        settings(stack)


def test_config_strings_and_yaml_values_read_alike() -> None:
    """Pulumi hands every config value over as text; a stack file holds typed YAML."""
    from_cli = settings(batchSize="10", batchTimeoutSeconds="0", maxRetries="100", protect="true")
    from_yaml = settings(batchSize=10, batchTimeoutSeconds=0, maxRetries=100, protect=True)
    assert from_cli == from_yaml
    assert (from_cli.batch_size, from_cli.batch_timeout_seconds, from_cli.max_retries) == (10, 0, 100)
    assert from_cli.protect is True


# --- derived names ----------------------------------------------------------------------------


def test_prod_keeps_the_names_of_the_hand_made_setup() -> None:
    prod = settings("prod")
    assert prod.script_name == "elkhawaga-qr"
    assert prod.queue_name == "elkhawaga-sync-queue"
    assert prod.dead_letter_queue_name == "elkhawaga-sync-dlq"
    assert prod.kv_title == "elkhawaga-qr"
    assert prod.hostname == "qr.elkhawaga.uk"
    assert prod.worker_url == "https://qr.elkhawaga.uk"


def test_staging_derives_staging_names() -> None:
    staging = settings("staging")
    assert staging.script_name == "elkhawaga-qr-staging"
    assert staging.queue_name == "elkhawaga-sync-queue-staging"
    assert staging.dead_letter_queue_name == "elkhawaga-sync-dlq-staging"
    assert staging.kv_title == "elkhawaga-qr-staging"
    assert staging.hostname == "qr-staging.elkhawaga.uk"


def test_personal_stack_derives_its_own_names() -> None:
    alice = settings("dev-alice")
    assert alice.script_name == "elkhawaga-qr-dev-alice"
    assert alice.queue_name == "elkhawaga-sync-queue-dev-alice"
    assert alice.dead_letter_queue_name == "elkhawaga-sync-dlq-dev-alice"
    assert alice.kv_title == "elkhawaga-qr-dev-alice"
    assert alice.hostname == "qr-dev-alice.elkhawaga.uk"
    assert alice.worker_url == "https://qr-dev-alice.elkhawaga.uk"


def test_explicit_names_override_derivation() -> None:
    custom = settings(
        "dev-alice",
        scriptName="qr-test",
        queueName="q-test",
        deadLetterQueueName="dlq-test",
        kvTitle="KV test",
        hostname="qr-test.example.com",
    )
    assert (custom.script_name, custom.queue_name, custom.dead_letter_queue_name) == (
        "qr-test",
        "q-test",
        "dlq-test",
    )
    assert (custom.kv_title, custom.hostname) == ("KV test", "qr-test.example.com")


def _names(stack_settings: Any) -> dict[str, str]:
    return {
        "scriptName": stack_settings.script_name,
        "queueName": stack_settings.queue_name,
        "deadLetterQueueName": stack_settings.dead_letter_queue_name,
        "kvTitle": stack_settings.kv_title,
        "hostname": stack_settings.hostname,
    }


def test_long_stack_names_give_short_valid_and_distinct_names() -> None:
    # Two 100-character stack names (the longest allowed) that differ only in their last character:
    # plain truncation to 63 characters would give both the same queue and script.
    first = settings("team-" + "x" * 94 + "1")
    second = settings("team-" + "x" * 94 + "2")
    for derived in (first, second):
        for name in (derived.script_name, derived.queue_name, derived.dead_letter_queue_name):
            assert len(name) <= 63, name
        assert _SCRIPT_NAME.fullmatch(derived.script_name)
        assert _QUEUE_NAME.fullmatch(derived.queue_name)
        assert _QUEUE_NAME.fullmatch(derived.dead_letter_queue_name)
        assert derived.script_name.startswith("elkhawaga-qr-team-x")
        assert derived.queue_name.startswith("elkhawaga-sync-queue-team-x")
        label = derived.hostname.removesuffix(".elkhawaga.uk")
        assert "." not in label and len(label) <= 63
    for key, value in _names(first).items():
        assert value != _names(second)[key], key


def test_distinct_stacks_never_share_names() -> None:
    """Pulumi.yaml promises that no two stacks ever share a queue or a KV namespace.

    `dev-alice`, `dev_alice` and `dev.alice` are three different, valid Pulumi stack names.
    """
    stacks = ["dev-alice", "dev_alice", "dev.alice"]
    derived = {stack: _names(settings(stack)) for stack in stacks}
    for key in ("scriptName", "queueName", "deadLetterQueueName", "kvTitle", "hostname"):
        values = [derived[stack][key] for stack in stacks]
        assert len(set(values)) == len(values), f"{key} shared by stacks {stacks}: {values}"


# --- the committed stack files ----------------------------------------------------------------


def test_committed_prod_stack_file_loads_for_the_local_runtime() -> None:
    prod = settings_from_stack_file("prod")
    assert prod.account_id == "" and prod.zone_id == ""  # placeholders, accepted without deploy
    assert prod.protect is True
    assert prod.custom_domain is False
    assert prod.import_kv_namespace_id == "5dad2f4d72b246758bdafa17dfe4eb10"
    assert prod.import_queue_id is None
    assert (prod.script_name, prod.queue_name, prod.kv_title) == (
        "elkhawaga-qr",
        "elkhawaga-sync-queue",
        "elkhawaga-qr",
    )


def test_committed_staging_stack_file_loads_for_the_local_runtime() -> None:
    staging = settings_from_stack_file("staging")
    assert staging.account_id == "" and staging.zone_id == ""
    assert staging.protect is False
    assert staging.custom_domain is True
    assert staging.import_kv_namespace_id is None and staging.import_queue_id is None
    assert staging.hostname == "qr-staging.elkhawaga.uk"


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_committed_stack_file_cannot_deploy_until_account_id_is_set(stack: str) -> None:
    with pytest.raises(ValueError, match=r"^accountId: 'SET-ME-accountId'") as error:
        load_settings(stack, stack_file_values(stack), deploy=True)
    assert "pulumi config set accountId" in str(error.value)


def test_committed_stack_files_deploy_once_ids_are_set() -> None:
    for stack in ("prod", "staging"):
        deployable = load_settings(stack, {**stack_file_values(stack), **IDS}, deploy=True)
        assert (deployable.account_id, deployable.zone_id) == (ACCOUNT_ID, ZONE_ID)


def test_staging_never_shares_a_resource_name_with_prod() -> None:
    prod = settings_from_stack_file("prod")
    staging = settings_from_stack_file("staging")
    prod_names = {prod.kv_title, prod.queue_name, prod.dead_letter_queue_name, prod.script_name}
    staging_names = {
        staging.kv_title,
        staging.queue_name,
        staging.dead_letter_queue_name,
        staging.script_name,
    }
    assert prod_names.isdisjoint(staging_names)
    assert prod.hostname != staging.hostname
    assert prod.import_kv_namespace_id != staging.import_kv_namespace_id


def test_stack_without_a_file_has_no_values() -> None:
    assert stack_file_values("dev-nobody") == {}


# --- Pulumi.yaml: the one place defaults are written ---------------------------------------------


def _schema() -> dict[str, dict[str, Any]]:
    return yaml.safe_load((ROOT / "Pulumi.yaml").read_text(encoding="utf-8"))["config"]


def test_project_defaults_tune_the_queue() -> None:
    defaults = project_defaults()
    assert defaults["batchSize"] == 25
    assert defaults["batchTimeoutSeconds"] == 5
    assert defaults["maxRetries"] == 3


def test_defaults_alone_give_prod_its_tuning() -> None:
    prod = settings("prod")
    assert (prod.batch_size, prod.batch_timeout_seconds, prod.max_retries) == (25, 5, 3)
    assert prod.site_name == "الخواجة"
    assert prod.main_site_url == "https://www.elkhawaga.uk"
    assert prod.compatibility_date == "2026-04-01"
    assert (prod.protect, prod.custom_domain) == (False, False)
    assert (prod.import_kv_namespace_id, prod.import_queue_id) == (None, None)


def test_every_declared_key_has_type_description_and_default() -> None:
    schema = _schema()
    for key, spec in schema.items():
        assert spec.get("type") in {"string", "integer", "boolean"}, key
        assert isinstance(spec.get("description"), str) and spec["description"].strip(), key
        if key != "syncApiKey":
            assert "default" in spec, key
    assert schema["syncApiKey"].get("secret") is True
    assert "default" not in schema["syncApiKey"]


def test_declared_defaults_are_valid_settings() -> None:
    # The defaults must themselves pass validation for every kind of stack.
    for stack in ("prod", "staging", "dev-alice"):
        settings(stack)

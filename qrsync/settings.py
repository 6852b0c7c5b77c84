"""Stack settings: read once from Pulumi config (or a stack file), validated before anything is built."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

PROJECT = "elkhawaga-qr"
PROD_STACK = "prod"
ROOT = Path(__file__).resolve().parent.parent

_HEX32 = re.compile(r"[0-9a-f]{32}")
_SCRIPT_NAME = re.compile(r"[a-z0-9_][a-z0-9_-]*")
_QUEUE_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Cloudflare caps Worker script and queue names at 63 characters.
_NAME_MAX = 63
_KV_TITLE_MAX = 512

# Production names of the hand-made setup; every other stack derives `<name>-<stack>` from these.
_PROD_NAMES = {
    "scriptName": "elkhawaga-qr",
    "queueName": "elkhawaga-sync-queue",
    "deadLetterQueueName": "elkhawaga-sync-dlq",
    "kvTitle": "elkhawaga-qr",
}
_PROD_HOSTNAME = "qr.elkhawaga.uk"


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything one stack needs, with derived names resolved and every value checked."""

    stack: str
    account_id: str
    """32-hex Cloudflare account id; empty only for the local runtime, which needs none."""
    zone_id: str
    hostname: str
    custom_domain: bool
    script_name: str
    queue_name: str
    dead_letter_queue_name: str
    kv_title: str
    batch_size: int
    batch_timeout_seconds: int
    max_retries: int
    site_name: str
    main_site_url: str
    compatibility_date: str
    protect: bool
    import_kv_namespace_id: str | None
    import_queue_id: str | None

    @property
    def worker_url(self) -> str:
        return f"https://{self.hostname}"


def project_defaults(root: Path = ROOT) -> dict[str, Any]:
    """The `default` of every key declared in Pulumi.yaml: the one place defaults are written."""
    schema = yaml.safe_load((root / "Pulumi.yaml").read_text(encoding="utf-8"))["config"]
    return {key: spec["default"] for key, spec in schema.items() if "default" in spec}


def declared_keys(root: Path = ROOT) -> list[str]:
    return list(yaml.safe_load((root / "Pulumi.yaml").read_text(encoding="utf-8"))["config"])


def stack_file_values(stack: str, root: Path = ROOT) -> dict[str, Any]:
    """Plain (non-secret) values of `Pulumi.<stack>.yaml`; a stack without a file has none."""
    path = root / f"Pulumi.{stack}.yaml"
    if not path.exists():
        return {}
    config = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("config") or {}
    prefix = f"{PROJECT}:"
    return {
        key.removeprefix(prefix): value
        for key, value in config.items()
        if key.startswith(prefix) and not isinstance(value, dict)  # {secure: …} needs the CLI
    }


def load_settings(stack: str, values: Mapping[str, Any], *, deploy: bool = True) -> Settings:
    """Validate raw config values (strings from Pulumi, or typed YAML) into Settings.

    `deploy=False` is the local runtime: Cloudflare ids and the hostname are not needed there, so
    the placeholders of the committed stack files are accepted.
    """
    raw = {**project_defaults(), **{k: v for k, v in values.items() if v is not None}}
    _check_stack(stack)

    def text(key: str) -> str:
        value = raw.get(key, "")
        if not isinstance(value, str):
            raise ValueError(f"{key}: expected text, got {value!r}")
        return value.strip()

    def integer(key: str, low: int, high: int, unit: str = "") -> int:
        value = raw.get(key)
        if isinstance(value, bool) or not re.fullmatch(r"-?\d+", str(value).strip()):
            raise ValueError(f"{key}: {value!r} is not a whole number (allowed: {low}-{high}{unit})")
        number = int(str(value).strip())
        if not low <= number <= high:
            raise ValueError(f"{key}: {number} is out of range (allowed: {low}-{high}{unit})")
        return number

    def boolean(key: str) -> bool:
        value = raw.get(key)
        if isinstance(value, bool):
            return value
        if str(value).strip().lower() in ("true", "false"):
            return str(value).strip().lower() == "true"
        raise ValueError(f"{key}: {value!r} is not a boolean (allowed: true or false)")

    def derived(key: str, check: re.Pattern[str], limit: int, rule: str) -> str:
        name = text(key) or _derive_name(_PROD_NAMES[key], stack, limit)
        if len(name) > limit or not check.fullmatch(name):
            raise ValueError(f"{key}: {name!r} is not a valid name ({rule}, 1-{limit} characters)")
        return name

    settings = Settings(
        stack=stack,
        account_id=_cloudflare_id("accountId", text("accountId"), deploy),
        zone_id=_cloudflare_id("zoneId", text("zoneId"), deploy),
        hostname=_hostname(text("hostname") or _derive_hostname(stack)),
        custom_domain=boolean("customDomain"),
        script_name=derived("scriptName", _SCRIPT_NAME, _NAME_MAX, "lowercase letters, digits, '-' and '_'"),
        queue_name=derived("queueName", _QUEUE_NAME, _NAME_MAX, "lowercase letters, digits and inner '-'"),
        dead_letter_queue_name=derived(
            "deadLetterQueueName", _QUEUE_NAME, _NAME_MAX, "lowercase letters, digits and inner '-'"
        ),
        kv_title=_kv_title(text("kvTitle") or _derive_name(_PROD_NAMES["kvTitle"], stack, _KV_TITLE_MAX)),
        batch_size=integer("batchSize", 1, 100),
        batch_timeout_seconds=integer("batchTimeoutSeconds", 0, 60, " seconds"),
        max_retries=integer("maxRetries", 0, 100),
        site_name=_site_name(text("siteName")),
        main_site_url=_https_url("mainSiteUrl", text("mainSiteUrl")),
        compatibility_date=_date("compatibilityDate", text("compatibilityDate")),
        protect=boolean("protect"),
        import_kv_namespace_id=_optional_id("importKvNamespaceId", text("importKvNamespaceId")),
        import_queue_id=_optional_id("importQueueId", text("importQueueId")),
    )
    if settings.queue_name == settings.dead_letter_queue_name:
        raise ValueError(
            f"deadLetterQueueName: {settings.dead_letter_queue_name!r} must differ from queueName"
        )
    return settings


def settings_from_stack_file(stack: str, root: Path = ROOT) -> Settings:
    """Settings for the local runtime, from the same files `pulumi up` reads."""
    return load_settings(stack, stack_file_values(stack, root), deploy=False)


def settings_from_pulumi() -> Settings:
    """Settings of the stack being deployed; called once by `__main__.py`."""
    import pulumi

    config = pulumi.Config()
    return load_settings(
        pulumi.get_stack(), {key: config.get(key) for key in declared_keys() if key != "syncApiKey"}
    )


def _check_stack(stack: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", stack):
        raise ValueError(f"stack: {stack!r} is not a valid stack name (letters, digits, '-', '_', '.')")


def _slug(stack: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", stack.lower()).strip("-") or "stack"


def _derive_name(base: str, stack: str, limit: int) -> str:
    if stack == PROD_STACK:
        return base
    slug = _slug(stack)
    if slug != stack:
        # "dev_alice", "dev.alice" and "Dev-Alice" all slug to "dev-alice": keep them apart.
        slug = f"{slug}-{hashlib.sha256(stack.encode()).hexdigest()[:6]}"
    name = f"{base}-{slug}"
    if len(name) <= limit:
        return name
    # Too long for Cloudflare: keep it recognisable and unique with a short hash of the full name.
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9].rstrip('-')}-{digest}"


def _derive_hostname(stack: str) -> str:
    if stack == PROD_STACK:
        return _PROD_HOSTNAME
    label = _derive_name("qr", stack, 63)
    return f"{label}.{_PROD_HOSTNAME.split('.', 1)[1]}"


def _cloudflare_id(key: str, value: str, deploy: bool) -> str:
    if not deploy and not _HEX32.fullmatch(value):
        return ""
    if not _HEX32.fullmatch(value):
        raise ValueError(
            f"{key}: {value!r} is not a Cloudflare id (allowed: 32 lowercase hex characters); "
            f"run `pulumi config set {key} <id>` (Cloudflare dashboard > Overview > API)"
        )
    return value


def _optional_id(key: str, value: str) -> str | None:
    if not value:
        return None
    if not _HEX32.fullmatch(value):
        raise ValueError(
            f"{key}: {value!r} is not a Cloudflare id (allowed: 32 lowercase hex characters or empty)"
        )
    return value


def _hostname(value: str) -> str:
    labels = value.split(".")
    if len(value) > 253 or len(labels) < 2 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise ValueError(
            f"hostname: {value!r} is not a hostname (allowed: lowercase DNS labels such as qr.elkhawaga.uk)"
        )
    return value


def _kv_title(value: str) -> str:
    if not 1 <= len(value) <= _KV_TITLE_MAX or not value.isprintable():
        raise ValueError(
            f"kvTitle: {value!r} is not a valid title (allowed: 1-{_KV_TITLE_MAX} printable characters)"
        )
    return value


def _site_name(value: str) -> str:
    if not 1 <= len(value) <= 100 or not value.isprintable():
        raise ValueError(f"siteName: {value!r} is not a valid name (allowed: 1-100 printable characters)")
    return value


def _https_url(key: str, value: str) -> str:
    if not re.fullmatch(r"https://[a-z0-9.-]+(?::\d+)?(?:/[^\s\"'<>]*)?", value):
        raise ValueError(f"{key}: {value!r} is not an https URL (allowed: https://host/path)")
    return value


def _date(key: str, value: str) -> str:
    try:
        if not _DATE.fullmatch(value):
            raise ValueError
        datetime.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{key}: {value!r} is not a date (allowed: YYYY-MM-DD)") from None
    return value

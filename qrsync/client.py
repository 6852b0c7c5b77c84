"""A typed client of the Worker's sync API: the same contract the Django client speaks."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from qrsync.local import DEFAULT_API_KEY

DEFAULT_URL = "http://127.0.0.1:8787"
# One queue message holds 128,000 bytes including ~100 bytes of metadata. The Worker puts each
# document in a message as {"key", "value": <the document as a JSON string>} and caps that at
# 127,000 bytes less its frame; documents are measured here the same way.
MAX_DOCUMENT_BYTES = 126_900
# Requests stay far below the Worker's body limit and finish in well under the client timeout.
DEFAULT_REQUEST_BYTES = 1_000_000
_MAX_KEY_BYTES = 512
_RETRY_STATUSES = {429, 500, 502, 503, 504}

Product = dict[str, Any]


class SyncError(Exception):
    """A failure a person can act on; `str()` is one readable line."""


class SyncClient:
    def __init__(
        self,
        url: str = DEFAULT_URL,
        api_key: str = DEFAULT_API_KEY,
        *,
        timeout: float = 60.0,
        retries: int = 3,
        backoff_seconds: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise SyncError(f"{url!r} is not a Worker URL (expected http://… or https://…)")
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url,
            timeout=timeout,
            headers={"X-Sync-API-Key": api_key, "User-Agent": "qrsync"},
        )
        self._retries = retries
        self._backoff = backoff_seconds
        self._sleep = sleep

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        content = None if body is None else json.dumps(body, ensure_ascii=True).encode()
        headers = {} if body is None else {"Content-Type": "application/json"}
        for attempt in range(self._retries + 1):
            try:
                response = self._http.request(method, path, content=content, headers=headers)
            except httpx.ConnectError as error:
                # Refused or unresolvable: a wrong URL or a stopped Worker, not worth waiting for.
                raise SyncError(f"cannot reach {self.url}: {error or type(error).__name__}") from None
            except httpx.TransportError as error:
                if attempt == self._retries:
                    raise SyncError(f"no answer from {self.url}: {error or type(error).__name__}") from None
            else:
                if response.status_code == 200:
                    return _json(response)
                if response.status_code not in _RETRY_STATUSES or attempt == self._retries:
                    raise SyncError(_describe(response, self.url))
            # 2 s, 4 s, 8 s: the same back-off the Django client uses.
            self._sleep(self._backoff * 2**attempt)
        raise AssertionError("unreachable")

    def call(self, action: str, **fields: Any) -> dict[str, Any]:
        """POST /sync with one action; returns the JSON reply of a 200."""
        return self._request("POST", "/sync", {"action": action, **fields})

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/health")

    def sync_product(self, product: Product) -> dict[str, Any]:
        return self.call("sync_product", product=product)

    def sync_all(self, products: list[Product]) -> dict[str, Any]:
        return self.call("sync_all", products=products)

    def sync_product_sets(self, product_sets: Mapping[str, Any]) -> dict[str, Any]:
        return self.call("sync_product_sets", product_sets=dict(product_sets))

    def delete_product(self, code: str) -> dict[str, Any]:
        return self.call("delete_product", code=code)

    def update_name_map(self, entries: Mapping[str, str]) -> dict[str, Any]:
        return self.call("update_name_map", entries=dict(entries))

    def sync_name_map(self, mapping: Mapping[str, str]) -> dict[str, Any]:
        return self.call("sync_name_map", map=dict(mapping))

    def sync_qr_design(self, design: Mapping[str, Any]) -> dict[str, Any]:
        return self.call("sync_qr_design", design=dict(design))

    def sync_all_bank(self, bank_accounts: Mapping[str, Any]) -> dict[str, Any]:
        return self.call("sync_all_bank", bank_accounts=dict(bank_accounts))

    def get_key(self, key: str) -> Any:
        return self.call("get_key", key=key)["value"]

    def list_keys(self, limit: int = 1000, cursor: str | None = None) -> dict[str, Any]:
        return self.call("list_keys", limit=limit, **({"cursor": cursor} if cursor else {}))

    def delete_keys(self, keys: list[str]) -> dict[str, Any]:
        return self.call("delete_keys", keys=keys)

    def export_products(self) -> Iterator[Product]:
        """Every product document of the deployment (sets, reserved and internal keys left out)."""
        cursor = None
        # One get_key per product: a few in flight at once keep a 10,000-product export short.
        with ThreadPoolExecutor(max_workers=8) as pool:
            while True:
                page = self.list_keys(1000, cursor)
                keys = [key for key in page["keys"] if not key.startswith(("__", "bank_accounts:", "set_"))]
                for key, value in zip(keys, pool.map(self.get_key, keys), strict=True):
                    if isinstance(value, dict) and value.get("code") == key:
                        yield value
                if page["list_complete"]:
                    return
                cursor = page["cursor"]

    def list_failed(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Every message in the dead-letter store (id, source, keys, error, attempts, failed_at)."""
        failed: list[dict[str, Any]] = []
        cursor = None
        while True:
            reply = self.call("list_failed", limit=limit, **({"cursor": cursor} if cursor else {}))
            failed.extend(reply["failed"])
            if reply["list_complete"]:
                return failed
            cursor = reply["cursor"]

    def replay_failed(self, ids: list[str] | None = None) -> tuple[int, list[str]]:
        """Put dead letters back on the queue (all of them when `ids` is None).

        Returns how many were replayed, and the ids left in the store because they are older than
        the Worker's delete horizon (replaying them could undo a later delete).
        """
        if ids:
            replies = [self.call("replay_failed", ids=ids[i : i + 200]) for i in range(0, len(ids), 200)]
            return sum(int(reply["replayed"]) for reply in replies), []
        total = 0
        while True:
            reply = self.call("replay_failed")
            total += int(reply["replayed"])
            if not reply["remaining"] or reply["replayed"] == 0:
                return total, list(reply.get("expired", []))


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise SyncError(f"{response.request.url} answered 200 with a body that is not JSON") from None
    if not isinstance(body, dict):
        raise SyncError(f"{response.request.url} answered 200 with unexpected JSON")
    return body


def _describe(response: httpx.Response, url: str) -> str:
    try:
        message = response.json().get("error") or response.text
    except ValueError:
        message = response.text[:200]
    if response.status_code == 401:
        return f"{url} refused the API key (401): check --api-key or QRSYNC_API_KEY"
    return f"{url} answered {response.status_code}: {message}"


# --- documents and request planning -------------------------------------------------------------


def product_problem(product: Any) -> tuple[str, str] | None:
    """(field, reason) when the Worker would reject this product document; None when it is valid."""
    if not isinstance(product, dict):
        return "product", "must be a JSON object"
    code = product.get("code")
    if not isinstance(code, str) or not code.strip():
        return "code", "must be a non-empty string"
    if len(code) > 255 or len(code.encode()) > _MAX_KEY_BYTES:
        return "code", "is longer than 255 characters or 512 bytes"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in code):
        return "code", "contains control characters"
    if code.startswith(("__", "bank_accounts:")):
        return "code", "is a reserved key"
    if code.startswith("set_"):
        return "code", "must not start with set_ (product-set keys)"
    size = len(_compact_json({"key": code, "value": _compact_json(product)}).encode())
    if size > MAX_DOCUMENT_BYTES:
        return "product", f"is {size} bytes; one queue message holds at most {MAX_DOCUMENT_BYTES}"
    return None


def _compact_json(value: Any) -> str:
    """JSON as the Worker's JSON.stringify writes it: no spaces, non-ASCII kept."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def plan_requests(
    products: Iterable[Product], max_bytes: int = DEFAULT_REQUEST_BYTES
) -> Iterator[list[Product]]:
    """Group products into sync_all requests whose JSON body stays under `max_bytes`."""
    chunk: list[Product] = []
    size = 0
    for product in products:
        # The body is sent with \\uXXXX escapes, like Python requests' json=.
        product_bytes = len(json.dumps(product, ensure_ascii=True)) + 2
        if chunk and size + product_bytes > max_bytes:
            yield chunk
            chunk, size = [], 0
        chunk.append(product)
        size += product_bytes
    if chunk:
        yield chunk

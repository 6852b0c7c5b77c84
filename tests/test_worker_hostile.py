"""Hostile input: every rejection is a 4xx with a message, and nothing of it is ever written."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.conftest import API_KEY, product, unique, wait_until

Sync = Callable[..., httpx.Response]


def assert_nothing_written(sync: Sync, keys: list[str]) -> None:
    """A sentinel sent after the rejections lands; the rejected keys still do not exist."""
    sentinel = unique("SENTINEL")
    sync({"action": "sync_product", "product": product(sentinel)})
    wait_until(lambda: sync({"action": "get_key", "key": sentinel}).status_code == 200, what="sentinel")
    for key in keys:
        assert sync({"action": "get_key", "key": key}).status_code == 404, key


def raw_post(http: httpx.Client, content: bytes, key: str | None = API_KEY) -> httpx.Response:
    headers = {"Content-Type": "application/json", **({"X-Sync-API-Key": key} if key else {})}
    return http.post("/sync", content=content, headers=headers)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{",
        b"not json",
        b"[1, 2]",
        b"null",
        b'"text"',
        b"\xff\xfe",
        b'{"action": "sync_product", "product": ',
    ],
)
def test_malformed_bodies_are_400_with_a_message(http: httpx.Client, content: bytes) -> None:
    reply = raw_post(http, content)
    assert reply.status_code == 400
    assert reply.json()["error"]


def test_the_key_is_checked_before_the_body_is_read(http: httpx.Client) -> None:
    reply = raw_post(http, b"{", key="wrong")
    assert reply.status_code == 401
    assert reply.json() == {"error": "Unauthorized"}


def test_a_body_over_the_limit_is_413(http: httpx.Client) -> None:
    code = unique("HUGE")
    body = (
        b'{"action": "sync_product", "product": {"code": "'
        + code.encode()
        + b'", "d": "'
        + b"x" * (27 * 1024 * 1024)
        + b'"}}'
    )
    reply = raw_post(http, body)
    assert reply.status_code == 413
    assert "bytes" in reply.json()["error"]


def test_a_document_too_large_for_one_queue_message_is_413_not_500(sync: Sync) -> None:
    code = unique("FAT")
    reply = sync({"action": "sync_product", "product": product(code, description="x" * 130_000)})
    assert reply.status_code == 413
    assert code in reply.json()["error"]
    assert_nothing_written(sync, [code])


@pytest.mark.parametrize(
    "code",
    [
        "__SYNC_API_KEY__",
        "__QR_DESIGN_SETTINGS__",
        "__alias__:x",
        "__dead__:1",
        "bank_accounts:all",
        "set_7",
        "",
        "   ",
        "a" * 256,
        "€" * 200,
        "tab\tkey",
        None,
        42,
    ],
)
def test_product_codes_that_are_reserved_or_invalid_are_rejected(sync: Sync, code: object) -> None:
    reply = sync({"action": "sync_product", "product": product("placeholder") | {"code": code}})
    assert reply.status_code == 400
    assert "code" in reply.json()["error"]


def test_one_bad_document_rejects_the_whole_sync_all(sync: Sync) -> None:
    good = [unique("GOOD") for _ in range(3)]
    docs = [product(code) for code in good] + [product("__evil__"), "not an object"]
    reply = sync({"action": "sync_all", "products": docs})
    assert reply.status_code == 400
    assert "nothing was queued" in reply.json()["error"]
    assert [item["index"] for item in reply.json()["details"]] == [3, 4]
    assert_nothing_written(sync, good)


@pytest.mark.parametrize(
    "body",
    [
        {"action": "sync_all", "products": {"not": "a list"}},
        {"action": "sync_product_sets", "product_sets": {"not_a_set_key": {"name": "x", "products": []}}},
        {"action": "sync_product_sets", "product_sets": ["set_1"]},
        {"action": "delete_product", "code": "__QR_DESIGN_SETTINGS__"},
        {"action": "delete_product"},
        {"action": "update_name_map", "entries": {"alias": "__SYNC_API_KEY__"}},
        {"action": "update_name_map", "entries": {"alias": 5}},
        {"action": "update_name_map", "entries": {"x" * 600: "CODE"}},
        {"action": "sync_name_map", "map": "everything"},
        {"action": "sync_qr_design", "design": "red"},
        {"action": "sync_all_bank", "bank_accounts": {"not_bank": {}}},
        {"action": "delete_keys", "keys": ["__alias__:x"]},
        {"action": "delete_keys", "keys": "everything"},
        {"action": "get_key"},
        {"action": "list_keys", "limit": 0},
        {"action": "list_keys", "cursor": 5},
        {"action": "replay_failed", "ids": "all"},
    ],
)
def test_wrong_shapes_are_400_with_a_message(sync: Sync, body: dict[str, object]) -> None:
    reply = sync(body)
    assert reply.status_code == 400, reply.text
    assert isinstance(reply.json()["error"], str)
    assert reply.json()["error"]


def test_replaying_an_unknown_dead_letter_is_404(sync: Sync) -> None:
    reply = sync({"action": "replay_failed", "ids": ["no-such-id"]})
    assert reply.status_code == 404
    assert "no-such-id" in reply.json()["error"]


@pytest.mark.parametrize("path", ["/%zz", "/%E0%A4%A", "/p/%", "/%"])
def test_malformed_percent_escapes_get_a_400_page_not_a_crash(http: httpx.Client, path: str) -> None:
    reply = http.get(path)
    assert reply.status_code == 400
    assert reply.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    "path",
    [
        "/__SYNC_API_KEY__",
        "/__QR_DESIGN_SETTINGS__",
        "/bank_accounts:all",
        "/__alias__:velvet",
        "/__dead__:1",
    ],
)
def test_reserved_keys_never_render(sync: Sync, http: httpx.Client, path: str) -> None:
    reply = http.get(path)
    assert reply.status_code == 404
    assert path.lstrip("/") not in reply.text


def test_script_in_names_and_paths_is_escaped(sync: Sync, http: httpx.Client) -> None:
    payload = '<script>alert("x")</script>'
    code = unique("XSS")
    doc = product(
        code,
        name=payload,
        description=payload,
        category=payload,
        unit=payload,
        variants=[
            {
                "code": code + "-V",
                "color_name": payload,
                "color_hex": "red;}</style><script>",
                "price": payload,
                "is_available": True,
            }
        ],
    )
    sync({"action": "sync_product", "product": doc})
    wait_until(lambda: http.get(f"/{code}").status_code == 200, what="the product page")
    page = http.get(f"/{code}").text
    assert "<script" not in page
    assert "&lt;script&gt;" in page

    reply = http.get("/" + httpx.URL(f"/{payload}").raw_path.decode().lstrip("/"))
    assert reply.status_code == 404
    assert "<script" not in reply.text
    assert "alert" not in reply.text


def test_other_methods_and_paths_get_json_errors(http: httpx.Client) -> None:
    assert http.get("/sync").status_code == 405
    assert http.get("/sync").json()["error"]
    assert http.post("/", content=b"{}").status_code == 405
    assert http.delete("/anything").json()["error"]


def test_the_clients_document_size_check_agrees_with_the_worker(sync: Sync) -> None:
    from qrsync.client import product_problem

    code = unique("FIT")

    def sized(length: int) -> dict[str, object]:
        return product(code, description='ق"' * (length // 2))

    # The largest description the client accepts, found by bisection over the client's own check.
    low, high = 1_000, 200_000
    while high - low > 2:
        middle = (low + high) // 2
        low, high = (middle, high) if product_problem(sized(middle)) is None else (low, middle)
    fits, too_big = sized(low), sized(low + 400)
    assert product_problem(fits) is None
    assert product_problem(too_big) is not None

    assert sync({"action": "sync_product", "product": fits}).status_code == 200
    assert sync({"action": "sync_product", "product": too_big}).status_code == 413

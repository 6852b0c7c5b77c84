"""The Django client's contract (shared/contract.md), driven over real HTTP against workerd."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from qrsync.local import LocalWorker
from tests.conftest import API_KEY, product, unique, wait_until

Sync = Callable[..., httpx.Response]


def get_key(sync: Sync, key: str) -> httpx.Response:
    return sync({"action": "get_key", "key": key})


def wait_for_value(sync: Sync, key: str, check: Callable[[object], bool] = lambda value: True) -> object:
    found: list[object] = []

    def ready() -> bool:
        reply = get_key(sync, key)
        if reply.status_code == 200 and check(reply.json()["value"]):
            found.append(reply.json()["value"])
            return True
        return False

    wait_until(ready, what=f"KV key {key!r}")
    return found[0]


def wait_for_page(http: httpx.Client, path: str, status: int = 200) -> httpx.Response:
    replies: list[httpx.Response] = []

    def ready() -> bool:
        reply = http.get(path)
        replies.append(reply)
        return reply.status_code == status

    wait_until(ready, what=f"GET {path} -> {status}")
    return replies[-1]


def test_sync_product_replies_exactly_what_the_seed_promised(sync: Sync, http: httpx.Client) -> None:
    code = unique("P")
    reply = sync({"action": "sync_product", "product": product(code, name="قطيفة ملكية", price="1250.00")})

    assert reply.status_code == 200
    assert reply.json() == {"success": True, "queued": True, "action": "sync_product"}
    page = wait_for_page(http, f"/{code}")
    assert "قطيفة ملكية" in page.text
    assert "1,250" in page.text
    # 1250 > 800, so the "price before discount" is 1250 * 1.20 = 1500.
    assert "1,500" in page.text
    assert "ج.م" in page.text


def test_wrong_or_missing_key_is_401_with_the_contract_body(sync: Sync) -> None:
    for key in ("wrong-key", None, ""):
        reply = sync({"action": "sync_product", "product": product(unique("P"))}, api_key=key)
        assert reply.status_code == 401
        assert reply.json() == {"error": "Unauthorized"}


def test_unknown_action_is_400_with_the_contract_body(sync: Sync) -> None:
    for body in ({"action": "drop_everything"}, {"action": None}, {"product": {}}, {"action": "__proto__"}):
        reply = sync(body)
        assert reply.status_code == 400
        assert reply.json() == {"error": "Unknown action"}


def test_sync_all_lands_every_product_and_stored_documents_keep_extra_fields(sync: Sync) -> None:
    codes = [unique("ALL") for _ in range(50)]
    docs = [product(code, price=str(100 + i), extra_field={"kept": i}) for i, code in enumerate(codes)]

    reply = sync({"action": "sync_all", "products": docs})

    assert reply.status_code == 200
    assert reply.json()["success"] is True
    assert reply.json()["count"] == 50
    for i, code in enumerate(codes):
        assert wait_for_value(sync, code) == docs[i]


def test_sync_product_sets_render_as_a_set_page(sync: Sync, http: httpx.Client) -> None:
    members = [
        {
            "code": unique("M"),
            "name": f"عضو {i}",
            "price": 200 + i,
            "currency": "EGP",
            "category": None,
            "material": "قطن",
            "width": "150 سم",
            "unit": "متر",
        }
        for i in range(3)
    ]
    set_key = unique("set_")
    reply = sync(
        {"action": "sync_product_sets", "product_sets": {set_key: {"name": "مجموعة", "products": members}}}
    )
    assert reply.status_code == 200
    assert reply.json()["success"] is True

    assert wait_for_value(sync, set_key) == {"name": "مجموعة", "products": members}
    host = unique("HOST")
    sync(
        {
            "action": "sync_product",
            "product": product(host, product_set={"name": "مجموعة", "products": members}),
        }
    )
    page = wait_for_page(http, f"/{host}")
    for member in members:
        assert member["name"] in page.text
        assert f'href="/{member["code"]}"' in page.text


def test_delete_product_removes_the_page(sync: Sync, http: httpx.Client) -> None:
    code = unique("DEL")
    sync({"action": "sync_product", "product": product(code)})
    wait_for_page(http, f"/{code}")

    reply = sync({"action": "delete_product", "code": code})

    assert reply.status_code == 200
    assert reply.json()["success"] is True
    wait_for_page(http, f"/{code}", status=404)
    assert get_key(sync, code).status_code == 404


def test_the_alias_clean_up_after_a_save_never_deletes_a_product_named_by_its_code(
    sync: Sync, http: httpx.Client
) -> None:
    code = unique("SELF")
    sync({"action": "sync_product", "product": product(code, name=code)})
    wait_for_page(http, f"/{code}")

    # What Django sends after every save: the product again, then delete_product with its name.
    sync({"action": "sync_product", "product": product(code, name=code, price="400.00")})
    reply = sync({"action": "delete_product", "code": code})

    assert reply.status_code == 200
    assert reply.json()["queued"] is False
    wait_until(lambda: "400" in http.get(f"/{code}").text, what="the second save")
    assert sync({"action": "delete_keys", "keys": [code]}).status_code == 200
    wait_for_page(http, f"/{code}", status=404)


def test_update_name_map_serves_aliases_as_given_and_upper_cased(sync: Sync, http: httpx.Client) -> None:
    code = unique("ALIAS")
    sync({"action": "sync_product", "product": product(code, name="ستان لامع")})
    name = unique("satin")

    reply = sync({"action": "update_name_map", "entries": {name.upper(): code, "ستان لامع " + code: code}})

    assert reply.status_code == 200
    assert set(reply.json()) == {"success", "added", "total"}
    assert reply.json()["success"] is True
    assert reply.json()["added"] == 2
    # Lower-case path falls back to the upper-cased alias; Arabic names are percent-encoded in URLs.
    assert "ستان لامع" in wait_for_page(http, f"/{name.lower()}").text
    wait_for_page(http, "/" + httpx.URL("/ستان لامع " + code).raw_path.decode().lstrip("/"))


def test_sync_name_map_replaces_the_whole_map(sync: Sync, http: httpx.Client) -> None:
    code = unique("MAP")
    sync({"action": "sync_product", "product": product(code)})
    old, new = unique("old"), unique("new")
    sync({"action": "update_name_map", "entries": {old: code}})
    wait_for_page(http, f"/{old}")

    reply = sync({"action": "sync_name_map", "map": {new: code}})

    assert reply.status_code == 200
    assert reply.json() == {"success": True, "count": 1}
    wait_for_page(http, f"/{new}")
    wait_for_page(http, f"/{old}", status=404)


def test_sync_name_map_wins_over_an_update_still_in_the_queue(sync: Sync, http: httpx.Client) -> None:
    code = unique("GEN")
    sync({"action": "sync_product", "product": product(code)})
    queued, kept = unique("queued"), unique("kept")

    # No wait in between: the update is still queued when the whole map is replaced.
    sync({"action": "update_name_map", "entries": {queued: code}})
    sync({"action": "sync_name_map", "map": {kept: code}})

    wait_for_page(http, f"/{kept}")
    sentinel = unique("SENT")
    sync({"action": "sync_product", "product": product(sentinel)})
    wait_for_page(http, f"/{sentinel}")
    assert http.get(f"/{queued}").status_code == 404
    assert sync({"action": "update_name_map", "entries": {}}).json()["total"] >= 1
    later = unique("later")
    sync({"action": "update_name_map", "entries": {later: code}})
    wait_for_page(http, f"/{later}")  # aliases added after the replacement count again


def test_sync_qr_design_styles_every_page(sync: Sync, http: httpx.Client) -> None:
    design = {
        "logo_url": "https://www.elkhawaga.uk/logo.png",
        "logo_size": 150,
        "colors": {"primary": "#123456", "price": "#0b6e4f"},
        "links": {"website": "https://shop.example.org/", "whatsapp": "+201000000000"},
        "ignored_field": True,
    }
    reply = sync({"action": "sync_qr_design", "design": design})
    assert reply.status_code == 200
    assert reply.json()["success"] is True
    assert wait_for_value(sync, "__QR_DESIGN_SETTINGS__") == design
    code = unique("DESIGN")
    sync({"action": "sync_product", "product": product(code)})
    page = wait_for_page(http, f"/{code}")
    assert "#123456" in page.text
    assert 'src="https://www.elkhawaga.uk/logo.png"' in page.text
    assert 'href="https://shop.example.org/"' in page.text


def test_inline_design_images_are_served_once_from_assets_not_inlined_in_pages(
    sync: Sync, http: httpx.Client
) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>'
    logo = "data:image/svg+xml;base64," + base64.b64encode(svg).decode()
    design = {"logo_url": logo, "colors": {"primary": "#0a0b0c"}, "links": {}}
    assert sync({"action": "sync_qr_design", "design": design}).status_code == 200
    assert wait_for_value(sync, "__QR_DESIGN_SETTINGS__") == design  # stored as sent

    code = unique("ASSET")
    sync({"action": "sync_product", "product": product(code)})
    page = wait_for_page(http, f"/{code}")
    digest = hashlib.sha256(svg).hexdigest()
    assert f'src="/assets/{digest}"' in page.text
    assert "base64" not in page.text
    assert "img-src 'self'" in page.headers["content-security-policy"]
    image = http.get(f"/assets/{digest}")
    assert image.status_code == 200
    assert image.content == svg
    assert image.headers["content-type"] == "image/svg+xml"
    assert image.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "sandbox" in image.headers["content-security-policy"]
    assert http.get(f"/assets/{'0' * 64}").status_code == 404
    listed = sync({"action": "list_keys"}).json()["keys"]
    assert not any(key.startswith("__QR_DESIGN_ASSET__") or key == "__QR_DESIGN_PAGE__" for key in listed)


def test_a_design_with_broken_base64_is_rejected_whole(sync: Sync) -> None:
    before = sync({"action": "get_key", "key": "__QR_DESIGN_SETTINGS__"}).json()
    reply = sync({"action": "sync_qr_design", "design": {"logo_url": "data:image/png;base64,a"}})
    assert reply.status_code == 400
    assert reply.json() == {"error": "design.logo_url is not valid base64 image data"}
    assert sync({"action": "get_key", "key": "__QR_DESIGN_SETTINGS__"}).json() == before


def test_sync_all_bank_is_stored_but_never_rendered(sync: Sync, http: httpx.Client) -> None:
    accounts = {
        "bank_accounts:CIB": {"bank": "CIB", "iban": "EG00"},
        "bank_accounts:all": {
            "type": "bank_accounts",
            "accounts": ["CIB"],
            "count": 1,
            "last_updated": "2026-12-03 10:00",
        },
    }
    reply = sync({"action": "sync_all_bank", "bank_accounts": accounts})
    assert reply.status_code == 200
    assert reply.json()["success"] is True
    assert wait_for_value(sync, "bank_accounts:all") == accounts["bank_accounts:all"]
    assert http.get("/bank_accounts:all").status_code == 404
    assert http.get("/bank_accounts%3ACIB").status_code == 404


def test_list_keys_get_key_and_delete_keys(sync: Sync) -> None:
    codes = sorted(unique("LK") for _ in range(3))
    sync({"action": "sync_all", "products": [product(code) for code in codes]})
    for code in codes:
        wait_for_value(sync, code)

    first = sync({"action": "list_keys", "limit": 1})
    assert first.status_code == 200
    assert set(first.json()) == {"success", "keys", "list_complete", "cursor"}
    assert first.json()["list_complete"] is False
    listed: list[str] = []
    cursor = None
    while True:
        page = sync({"action": "list_keys", "limit": 1000, **({"cursor": cursor} if cursor else {})}).json()
        listed += page["keys"]
        if page["list_complete"]:
            break
        cursor = page["cursor"]
    assert set(codes) <= set(listed)
    assert not any(key.startswith(("__alias__:", "__dead__:")) for key in listed)

    value = get_key(sync, codes[0]).json()
    assert value == {"success": True, "value": product(codes[0])}

    reply = sync({"action": "delete_keys", "keys": codes})
    assert reply.status_code == 200
    assert reply.json() == {"success": True, "count": 3}
    wait_until(lambda: all(get_key(sync, code).status_code == 404 for code in codes), what="deleted keys")
    assert sync({"action": "delete_keys", "keys": [unique("X") for _ in range(51)]}).status_code == 400
    assert sync({"action": "list_keys", "limit": 1001}).status_code == 400


def test_a_500_product_sync_all_of_4kb_products_lands_completely(sync: Sync, worker: LocalWorker) -> None:
    codes = [unique("BIG") for _ in range(500)]
    docs = [product(code, description="ق" * 1900) for code in codes]  # ~4 KB each as the client sends it
    body = json.dumps({"action": "sync_all", "products": docs})
    assert len(body) > 2_000_000

    reply = sync({"action": "sync_all", "products": docs})

    assert reply.status_code == 200, reply.text
    assert reply.json()["count"] == 500
    listed: set[str] = set()

    def all_listed() -> bool:
        cursor = None
        listed.clear()
        while True:
            page = sync(
                {"action": "list_keys", "limit": 1000, **({"cursor": cursor} if cursor else {})}
            ).json()
            listed.update(page["keys"])
            if page["list_complete"]:
                return set(codes) <= listed
            cursor = page["cursor"]

    wait_until(all_listed, timeout=60, what="500 products in KV")
    for code in codes[::50]:
        assert wait_for_value(sync, code)["description"] == "ق" * 1900
    wait_until(lambda: bool(worker.events("consumer_batch")), what="the consumer's batch logs")
    batches = worker.events("consumer_batch")
    # The consumer refuses a KV call past 1,000 (it would fail the invocation), so a plan that put
    # too many writes in a batch would show up as failed, retried or deferred messages, not as >1,000.
    assert max(batch["kvOps"] for batch in batches) <= 1000
    assert all(batch["retried"] == batch["deferred"] == batch["deadLettered"] == 0 for batch in batches)
    assert max(batch["kvOps"] for batch in batches) > 500  # full batches really were exercised


def test_one_hundred_sets_in_one_request_land_completely(sync: Sync) -> None:
    sets = {
        unique("set_"): {
            "name": f"مجموعة {i}",
            "products": [
                {
                    "code": f"S{i}-{j}",
                    "name": f"منتج {j}",
                    "price": 100 + j,
                    "currency": "EGP",
                    "category": None,
                    "material": "قطن",
                    "width": "150 سم",
                    "unit": "متر",
                }
                for j in range(8)
            ],
        }
        for i in range(100)
    }
    reply = sync({"action": "sync_product_sets", "product_sets": sets})
    assert reply.status_code == 200
    assert reply.json()["count"] == 100
    for key, doc in sets.items():
        assert wait_for_value(sync, key) == doc


def test_fifty_concurrent_update_name_map_calls_lose_no_alias(sync: Sync, http: httpx.Client) -> None:
    code = unique("RACE")
    sync({"action": "sync_product", "product": product(code)})
    names = [unique("alias") for _ in range(50)]

    with ThreadPoolExecutor(max_workers=50) as pool:
        replies = list(
            pool.map(lambda name: sync({"action": "update_name_map", "entries": {name: code}}), names)
        )

    assert all(reply.status_code == 200 for reply in replies)
    for name in names:
        wait_for_page(http, f"/{name}")


@pytest.mark.parametrize("path", ["/{code}", "/{code}/", "/p/{code}", "/p/{code}/"])
def test_printed_qr_code_forms_all_serve_the_product(sync: Sync, http: httpx.Client, path: str) -> None:
    code = unique("FORM")
    sync({"action": "sync_product", "product": product(code)})
    page = wait_for_page(http, path.format(code=code))
    assert code in page.text
    assert page.headers["cache-control"] == "public, max-age=60"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"


def test_health_reports_the_products_the_admin_reads(http: httpx.Client) -> None:
    reply = http.get("/health")
    assert reply.status_code == 200
    body = reply.json()
    assert body["status"] == "ok"
    assert isinstance(body["products_cached"], int)
    assert {"service", "timestamp"} <= set(body)


def test_unknown_code_is_an_html_404_in_the_same_style(http: httpx.Client) -> None:
    reply = http.get(f"/{unique('NOPE')}")
    assert reply.status_code == 404
    assert reply.headers["content-type"].startswith("text/html")
    assert 'dir="rtl"' in reply.text


def test_api_key_is_never_in_a_reply_or_a_log(sync: Sync, http: httpx.Client, worker: LocalWorker) -> None:
    sync({"action": "sync_product", "product": product(unique("K"))}, api_key="wrong")
    for reply in (http.get("/health"), http.get("/__SYNC_API_KEY__"), sync({"action": "list_keys"})):
        assert API_KEY not in reply.text
    assert not any(API_KEY in line for line in worker.logs)

"""Hostile-input battery: property-based fuzzing of `POST /sync` and of the public pages.

The module runs its own Worker with in-memory state and keeps a model (`Ledger`) of every write an
accepted request asked for. The properties:

- every reply is a 200 or a 4xx, never a 5xx; every rejection is JSON `{"error": "<text>"}`;
- the API key is never echoed, and only the exact key, sent once, is accepted;
- an accepted request never writes a reserved key through the wrong action, nor a key KV refuses;
- every HTML page holds only the template's tags, attributes and safe URLs, no `<script`, and no
  input string with markup characters in it raw; the not-found page never depends on the path;
- at the end, the KV listing equals the model: nothing that only rejected requests named exists,
  and every accepted write landed (no retries, no dead letters).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, unquote

import httpx
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from qrsync.local import LocalOptions, LocalWorker, running
from qrsync.settings import Settings
from tests.conftest import API_KEY, TEST_BATCH_TIMEOUT_SECONDS, product, wait_until

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    # Generation of the nested documents is slow on a loaded 2-core machine; nothing else is waived.
    suppress_health_check=[HealthCheck.too_slow],
)

ALIAS_PREFIX = "__alias__:"
DEAD_LETTER_PREFIX = "__dead__:"
DESIGN_KEY = "__QR_DESIGN_SETTINGS__"
MARKUP = set("<>\"'&")
# What JavaScript's String.prototype.trim removes (Python's str.strip removes a different set).
JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff" + "".join(
    map(chr, range(0x2000, 0x200B))
)
ACTIONS = [
    "sync_product",
    "sync_all",
    "sync_product_sets",
    "delete_product",
    "update_name_map",
    "sync_name_map",
    "sync_qr_design",
    "sync_all_bank",
    "list_keys",
    "get_key",
    "delete_keys",
    "list_failed",
    "replay_failed",
]


# --- the model of what accepted requests wrote ----------------------------------------------------


class Ledger:
    """Last accepted operation per key, in request order: True written, False deleted."""

    def __init__(self) -> None:
        self.state: dict[str, bool] = {}
        self.aliases: set[str] = set()
        """Alias keys some accepted request wrote (sync_name_map's deletions are not modelled)."""
        self.rejected_aliases: set[str] = set()
        self.serial = 0
        self.design_generation = 0
        self.template = ""
        """Static HTML of the templates (pages with plain data), to tell template text from input."""
        self.not_found: dict[int, str] = {}
        """The not-found page, by design generation."""
        self.pages: list[str] | None = None
        self.design_reset: set[str] = set()

    def unique(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial}"

    def live(self) -> list[str]:
        return sorted(key for key, live in self.state.items() if live)


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def is_reserved(key: str) -> bool:
    return key.startswith(("__", "bank_accounts:"))


def is_internal(key: str) -> bool:
    return key.startswith((ALIAS_PREFIX, DEAD_LETTER_PREFIX))


def key_defect(key: object) -> str | None:
    """Why no accepted request may write `key` (KV refuses it, or the key rules forbid it), or None."""
    if not isinstance(key, str) or not key.strip(JS_SPACE):
        return "is not a non-empty string"
    if key in (".", ".."):
        return "is '.' or '..', which KV refuses as a key name"
    if any(0xD800 <= ord(char) <= 0xDFFF for char in key):
        return "holds a lone surrogate (not well-formed UTF-16), which KV cannot store"
    if len(key.encode("utf-8", "surrogatepass")) > 512:
        return "is over KV's 512-byte key limit"
    if re.search(r"[\x00-\x1f\x7f]", key):
        return "contains a control character"
    return None


def parse_sent(content: bytes) -> Any:
    """The body as the Worker reads it: UTF-8 with replacement, BOM dropped, then JSON."""
    text = content.decode("utf-8", errors="replace").removeprefix("\ufeff")
    try:
        return json.loads(text, parse_constant=lambda name: {"__invalid__": name})
    except (ValueError, RecursionError):
        return None


def accepted_ops(body: Any) -> list[tuple[str, bool]]:
    """The KV operations an accepted body asks for, checked against the contract's key rules."""
    assert isinstance(body, dict), f"accepted a body that is not a JSON object: {body!r}"
    action = body["action"]
    ops: list[tuple[str, bool]] = []
    if action in ("sync_product", "sync_all"):
        docs = [body["product"]] if action == "sync_product" else body["products"]
        assert isinstance(docs, list)
        for doc in docs:
            assert isinstance(doc, dict), f"{action} accepted a product that is not an object: {doc!r}"
            code = doc.get("code")
            assert isinstance(code, str) and utf16_length(code) <= 255, f"{action} accepted code {code!r}"
            assert not is_reserved(code), f"{action} accepted the reserved key {code!r}"
            assert not code.startswith("set_"), f"{action} accepted the product-set key {code!r}"
            ops.append((code, True))
    elif action in ("sync_product_sets", "sync_all_bank"):
        field, prefix = (
            ("product_sets", "set_") if action == "sync_product_sets" else ("bank_accounts", "bank_accounts:")
        )
        assert isinstance(body[field], dict)
        for key, doc in body[field].items():
            assert key.startswith(prefix), f"{action} accepted the key {key!r}"
            assert isinstance(doc, dict), f"{action} accepted a non-object document for {key!r}"
            ops.append((key, True))
    elif action == "delete_product":
        code = body["code"]
        assert isinstance(code, str) and not is_reserved(code), f"delete_product accepted code {code!r}"
        ops.append((code, False))
    elif action == "delete_keys":
        keys = body["keys"]
        assert isinstance(keys, list) and len(keys) <= 50, "delete_keys accepted more than 50 keys"
        for key in keys:
            assert isinstance(key, str) and not is_internal(key), f"delete_keys accepted {key!r}"
            ops.append((key, False))
    elif action in ("update_name_map", "sync_name_map"):
        entries = body["entries" if action == "update_name_map" else "map"]
        assert isinstance(entries, dict)
        for name, code in entries.items():
            assert key_defect(code) is None, f"{action} accepted alias target {code!r}: {key_defect(code)}"
            assert not is_reserved(code), f"{action} accepted the reserved alias target {code!r}"
            ops.append((ALIAS_PREFIX + name, True))
    elif action == "sync_qr_design":
        assert isinstance(body["design"], dict)
        ops.append((DESIGN_KEY, True))
    for key, _ in ops:
        defect = key_defect(key)
        assert defect is None, f"{action} accepted a write of {key!r}, which {defect}"
    return ops


def rejected_aliases(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return []
    entries = body.get("entries" if body.get("action") == "update_name_map" else "map")
    if body.get("action") not in ("update_name_map", "sync_name_map") or not isinstance(entries, dict):
        return []
    return [ALIAS_PREFIX + name for name in entries if key_defect(ALIAS_PREFIX + name) is None]


def check_json_reply(reply: httpx.Response) -> Any:
    assert reply.status_code < 500, f"{reply.status_code}: {reply.text[:500]}"
    assert reply.status_code == 200 or 400 <= reply.status_code < 500, reply.status_code
    assert reply.headers["content-type"].startswith("application/json"), reply.headers
    assert API_KEY not in reply.text
    payload = reply.json()
    assert isinstance(payload, dict)
    if reply.status_code != 200:
        assert payload.get("success") is not True, payload
        assert isinstance(payload["error"], str) and payload["error"].strip(), payload
    return payload


def check_accepted_reply(body: dict[str, Any], payload: dict[str, Any]) -> None:
    """The reply shapes the Django client reads (shared/contract.md)."""
    action = body["action"]
    assert payload.get("success") is True, payload
    if action == "sync_product":
        assert payload == {"success": True, "queued": True, "action": "sync_product"}
    elif action == "update_name_map":
        assert payload["added"] == len(body["entries"]) and isinstance(payload["total"], int), payload
    elif action == "sync_name_map":
        assert payload["count"] == len(body["map"]), payload
    elif action == "delete_keys":
        assert payload["count"] == len(body["keys"]), payload
    elif action == "list_keys":
        assert all(isinstance(key, str) for key in payload["keys"]), payload
        assert isinstance(payload["list_complete"], bool), payload


def post_sync(
    client: httpx.Client,
    ledger: Ledger,
    content: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
    chunked: bool = False,
    parsed: Any = None,
) -> httpx.Response:
    """POST /sync, check the generic properties, and record what an accepted request writes."""
    if headers is None:
        headers = [(b"Content-Type", b"application/json"), (b"X-Sync-API-Key", API_KEY.encode())]
    sent: bytes | Iterator[bytes] = content
    if chunked:
        sent = iter([content[: len(content) // 2], content[len(content) // 2 :]])
    reply = client.post("/sync", content=sent, headers=headers)
    body = parse_sent(content) if parsed is None else parsed
    if reply.status_code == 200:
        # A delete_product the Worker declined (a product named by its own code) writes nothing.
        declined = body.get("action") == "delete_product" and reply.json().get("queued") is False
        for key, live in [] if declined else accepted_ops(body):
            ledger.state[key] = live
            if live and key.startswith(ALIAS_PREFIX):
                ledger.aliases.add(key)
        if body["action"] == "sync_qr_design" or DESIGN_KEY in body.get("keys", ()):
            ledger.design_generation += 1
    else:
        ledger.rejected_aliases.update(rejected_aliases(body))
    payload = check_json_reply(reply)
    if reply.status_code == 200:
        check_accepted_reply(body, payload)
    return reply


def send(client: httpx.Client, ledger: Ledger, body: Any) -> httpx.Response:
    return post_sync(client, ledger, json.dumps(body).encode())


def settle(client: httpx.Client, ledger: Ledger) -> None:
    """A sentinel sent now lands: the consumer has applied what came before it."""
    sentinel = ledger.unique("SENTINEL-")
    send(client, ledger, {"action": "sync_product", "product": product(sentinel)})
    wait_until(
        lambda: send(client, ledger, {"action": "get_key", "key": sentinel}).status_code == 200,
        what="the sentinel write",
    )


# A full, valid design: tests after the design fuzzing start from it, so a design that breaks the
# pages fails the design test alone.
SITE_DESIGN = {
    "logo_url": "https://example.com/logo.png",
    "background_image_url": "data:image/png;base64,iVBORw0KGgo=",
    "logo_size": 120,
    "colors": {"primary": "#123456", "secondary": "rgb(1, 2, 3)", "price": "red"},
    "links": {
        "website": "https://example.com/",
        "facebook": "https://facebook.com/x",
        "whatsapp": "+20 100 000 0000",
        "phone": "+20 100 000 0000",
        "email": "info@example.com",
    },
}


def use_site_design(client: httpx.Client, ledger: Ledger, test: str) -> None:
    """Once per test: store SITE_DESIGN (a direct write, visible at once)."""
    if test not in ledger.design_reset:
        ledger.design_reset.add(test)
        assert send(client, ledger, {"action": "sync_qr_design", "design": SITE_DESIGN}).status_code == 200


# --- HTML audit -----------------------------------------------------------------------------------

# What the templates may emit: an allow-list, so injected markup fails whatever its payload. A new
# tag or attribute in the templates belongs here (never a script, an event handler or http-equiv).
PAGE_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "nav", "main", "article", "section",
    "footer", "div", "span", "p", "h1", "h2", "h3", "bdi", "s", "small", "strong", "em", "br", "dl",
    "dt", "dd", "ul", "ol", "li", "a", "img", "figure", "figcaption", "time",
}  # fmt: skip
PAGE_ATTRIBUTES = {
    "lang", "dir", "charset", "name", "property", "content", "class", "id", "title", "role", "src", "alt",
    "width", "height", "loading", "decoding", "href", "rel", "style", "aria-label", "aria-hidden", "datetime",
}  # fmt: skip
# Attribute values as parsed: quotes are escaped in the page, so only the scheme and
# characters that would end the attribute or tag matter; "//host" would leave the site.
SAFE_HREF = re.compile(
    r"(?:https?://[^\s\"<>`]*|tel:\+?\d+|mailto:[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+|/(?!/)[^\s\"<>`]*)?"
)
SAFE_SRC = re.compile(
    r"(?:https://[^\s\"<>`]*|/assets/[0-9a-f]{64}|data:image/(?:png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/]*={0,2})",
    re.IGNORECASE,
)
SAFE_STYLE_ATTRIBUTE = re.compile(r"(?:\s*[a-z-]+\s*:[#A-Za-z0-9 ,.%()-]+;?)+")
CSS_URL = re.compile(r"url\(([^)]*)\)")
SAFE_CSS_URL = re.compile(r"\"[^\"'()\\\s<>]*\"")


class PageAudit(HTMLParser):
    """Collects tags, attributes, style sheets and text of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.css: list[str] = []
        self.text: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in PAGE_TAGS:
            self.problems.append(f"unexpected tag <{tag}>")
        self._in_style = tag == "style"
        for name, value in attrs:
            if name not in PAGE_ATTRIBUTES:
                self.problems.append(f"unexpected attribute {name}={value!r} on <{tag}>")
            elif name == "href" and not SAFE_HREF.fullmatch(value or ""):
                self.problems.append(f"unsafe href {value!r}")
            elif name == "src" and not SAFE_SRC.fullmatch(value or ""):
                self.problems.append(f"unsafe src {value!r}")
            elif name == "style" and (
                not SAFE_STYLE_ATTRIBUTE.fullmatch(value or "")
                or re.search(r"url|expression", value or "", re.I)
            ):
                self.problems.append(f"unsafe style attribute {value!r}")

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False
        if tag not in PAGE_TAGS:
            self.problems.append(f"unexpected end tag </{tag}>")

    def handle_data(self, data: str) -> None:
        (self.css if self._in_style else self.text).append(data)

    def handle_comment(self, data: str) -> None:
        self.problems.append(f"comment <!--{data}-->")

    def handle_pi(self, data: str) -> None:
        self.problems.append(f"processing instruction {data!r}")

    def unknown_decl(self, data: str) -> None:
        self.problems.append(f"declaration {data!r}")


def audit_page(page: str) -> str:
    """Fails on anything the template would not emit; returns the page's visible text."""
    assert "<script" not in page.lower(), page
    audit = PageAudit()
    audit.feed(page)
    audit.close()
    assert not audit.problems, audit.problems
    for css in audit.css:
        assert "<" not in css, css
        for argument in CSS_URL.findall(css):
            assert SAFE_CSS_URL.fullmatch(argument), f"unsafe CSS url({argument})"
    return "".join(audit.text)


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings_in(item)


def assert_no_raw_input(page: str, strings: list[str], template: str) -> None:
    """Input with markup characters appears only escaped (strings the template holds are skipped)."""
    for text in strings:
        if MARKUP & set(text) and len(text) >= 4 and text not in template:
            assert text not in page, f"unescaped input {text!r} in the page"


# --- strategies -----------------------------------------------------------------------------------

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "javascript:alert(1)",
    "</style><script>alert(1)</script>",
    "</title><script>alert(1)</script>",
    "<!--",
    "<![CDATA[x]]>",
    "&lt;script&gt;",
    "&#60;script",
    "{{7*7}}${7*7}",
    "%3Cscript%3E",
    "<a href=javascript:alert(1)>x</a>",
]
RESERVED = [
    "__x__",
    "__",
    "__SYNC_API_KEY__",
    DESIGN_KEY,
    "__alias__:x",
    "__dead__:1",
    "__proto__",
    "bank_accounts:",
    "bank_accounts:all",
    "bank_accounts:CIB",
    "set_",
    "set_1",
]
ODD_KEYS = [
    "",
    " ",
    "\u00a0",
    "\ufeff",
    "\x85",
    ".",
    "..",
    "...",
    "./x",
    "/",
    "x/",
    "p/x",
    "%",
    "%zz",
    "%00",
    "\x00",
    "a\x00b",
    "tab\tkey",
    "line\nbreak",
    "\x1f",
    "\x7f",
    "\u202eRTL",
    "\u200fRLM",
    "\u061c",
    "\u2028",
    "\u0639\u0631\u0628\u064a",
    "\u0642\u0645\u0627\u0634 \u202eRTL",
    "\ud800",
    "x\udfffy",
    "\udbff\udfff",
    "\ud83d\ude00",
    "toString",
    "valueOf",
    "constructor",
    "hasOwnProperty",
    "NaN",
    "null",
    "[object Object]",
]
# Values that break naive JavaScript: String({toString: 1}) throws a TypeError.
ODD_VALUES = [
    {"toString": 1},
    {"toString": None, "valueOf": None},
    {"valueOf": {}},
    [],
    {},
    [None],
    "",
    " ",
    True,
    0,
    -1,
    -0.0,
    1e308,
    10**30,
    None,
]

long_keys = st.builds(
    lambda prefix, char, count: prefix + char * count,
    st.sampled_from(["", "set_", "bank_accounts:", "x"]),
    st.sampled_from(["a", "\u0639", "\u20ac", "\U0001f600", "<"]),
    st.sampled_from([127, 128, 170, 171, 250, 254, 255, 256, 500, 502, 503, 512, 513, 600]),
)
key_text = st.one_of(
    st.sampled_from(RESERVED + ODD_KEYS + PAYLOADS),
    st.text(max_size=12),
    st.from_regex(r"[A-Z]{1,2}-[0-9]{1,2}", fullmatch=True),
    st.builds(
        str.__add__,
        st.sampled_from(["set_", "bank_accounts:", "__", " ", "p/"]),
        st.text(max_size=8),
    ),
    st.builds(str.__add__, st.text(max_size=4), st.sampled_from(["\ud800", "\udfff", "."])),
    long_keys,
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
    st.sampled_from(PAYLOADS + ODD_KEYS),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=6), st.sampled_from(ODD_KEYS)), children, max_size=4),
    ),
    max_leaves=8,
)
odd_values = st.sampled_from(ODD_VALUES)
text_fields = st.one_of(st.text(max_size=16), st.sampled_from(PAYLOADS + ODD_KEYS), odd_values)
prices = st.one_of(
    st.sampled_from(["390.00", "0", "-1", "1e3", " 12 ", "1,250", ".5", "5.", "NaN", "Infinity", "<b>1</b>"]),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    odd_values,
)
colours = st.one_of(
    st.sampled_from(
        [
            "#fff",
            "#1B2A4A",
            "red",
            "rgb(1, 2, 3)",
            "hsla(1, 2%, 3%, .5)",
            "red;}</style><script>alert(1)</script>",
            "url(javascript:alert(1))",
            "expression(alert(1))",
            "#12345g",
            "red; background:url(https://x/)",
            'rgb(1,2,3)"><script>',
        ]
    ),
    st.text(max_size=10),
    odd_values,
)
currencies = st.one_of(st.sampled_from(["EGP", "SAR", "USD", "EUR", "egp", " USD ", "<b>$</b>"]), text_fields)
variants = st.fixed_dictionaries(
    {
        "code": text_fields,
        "color_name": text_fields,
        "color_hex": colours,
        "price": prices,
        "is_available": st.one_of(st.booleans(), odd_values),
    }
)
members = st.fixed_dictionaries(
    {
        "code": st.one_of(key_text, odd_values),
        "name": text_fields,
        "price": prices,
        "currency": currencies,
        "category": text_fields,
        "material": text_fields,
        "width": text_fields,
        "unit": text_fields,
    }
)
set_docs = st.fixed_dictionaries(
    {
        "name": text_fields,
        "products": st.one_of(st.lists(st.one_of(members, json_values), max_size=3), json_values),
    }
)
# Mostly codes a product may have, so that many documents are stored and their pages rendered.
product_codes = st.one_of(
    st.from_regex(r"[A-Z]{1,2}-[0-9]{1,2}", fullmatch=True),
    st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=8).map("C-".__add__),
    key_text,
)
product_docs = st.fixed_dictionaries(
    {
        "code": product_codes,
        "name": text_fields,
        "description": text_fields,
        "price": prices,
        "currency": currencies,
        "unit": st.one_of(st.sampled_from(["meter", "METER", "piece", "toString", "__proto__"]), text_fields),
        "category": text_fields,
        "updated_at": st.text(max_size=16),
        "type": st.one_of(st.sampled_from(["base_product", "standalone"]), text_fields),
        "variants": st.one_of(st.lists(st.one_of(variants, json_values), max_size=3), json_values),
    },
    optional={"product_set": st.one_of(set_docs, json_values), "extra": json_values, "toString": json_values},
)
urls = st.one_of(
    st.sampled_from(
        [
            "https://example.com/logo.png",
            "http://example.com/x.png",
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            " javascript:alert(1)",
            "java\tscript:alert(1)",
            "data:text/html;base64,PHNjcmlwdD4=",
            "data:image/svg+xml;base64,PHN2Zz4=",
            "data:image/png;base64,iVBOR\nw0KGgo=",
            "data:image/png,<svg onload=alert(1)>",
            'https://x.example/"><script>alert(1)</script>',
            'https://x.example/a.png") ; background:url(javascript:alert(1)',
            "https://x.example/'onerror='alert(1)",
            "https://x.example/a b(c)\\d",
            "//evil.example/x.png",
            "vbscript:msgbox(1)",
            "https://example.com/<b>",
            "https://ex ample.com",
            "mailto:a@b.co",
            "tel:123",
            "ftp://x.example/",
        ]
    ),
    st.text(max_size=20),
    odd_values,
)
contacts = st.one_of(
    st.sampled_from(
        [
            "+20 100 000 0000",
            "01000000000",
            "(02) 123-456",
            '123"onclick="alert(1)',
            "<script>alert(1)</script>",
            "a@b.co",
            'a@b.co"><script>',
            "javascript:alert(1)//@x.com",
        ]
    ),
    urls,
)
design_docs = st.fixed_dictionaries(
    {
        "logo_url": urls,
        "background_image_url": urls,
        "logo_size": st.one_of(
            st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=5), odd_values
        ),
        "colors": st.one_of(
            st.dictionaries(
                st.sampled_from(["primary", "secondary", "background", "card", "button", "price", "label"]),
                colours,
                max_size=7,
            ),
            json_values,
        ),
        "links": st.one_of(
            st.dictionaries(
                st.sampled_from(
                    ["website", "facebook", "instagram", "tiktok", "youtube", "whatsapp", "phone", "email"]
                ),
                contacts,
                max_size=8,
            ),
            json_values,
        ),
    },
    optional={"extra": json_values},
)
actions = st.one_of(
    st.sampled_from(ACTIONS),
    st.sampled_from(
        [
            "SYNC_PRODUCT",
            "sync_product ",
            "toString",
            "__proto__",
            "constructor",
            "hasOwnProperty",
            "",
            "list",
        ]
    ),
    json_values,
)


def body(action: str, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"action": st.just(action), **fields})


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(strategy, json_values)


alias_maps = st.one_of(
    st.dictionaries(st.one_of(product_codes, key_text), product_codes, max_size=3),
    st.dictionaries(key_text, st.one_of(key_text, odd_values), max_size=3),
    json_values,
)
listing = {
    "limit": st.one_of(
        st.none(), st.integers(-2, 1002), st.floats(allow_nan=False, allow_infinity=False), scalars
    ),
    "cursor": st.one_of(st.none(), st.text(max_size=12), scalars),
}
shaped_bodies = st.one_of(
    body("sync_product", product=maybe(product_docs)),
    body("sync_all", products=maybe(st.lists(maybe(product_docs), max_size=4))),
    body(
        "sync_product_sets",
        product_sets=maybe(
            st.dictionaries(
                st.one_of(st.text(max_size=6).map("set_".__add__), key_text), maybe(set_docs), max_size=3
            )
        ),
    ),
    body("delete_product", code=maybe(key_text)),
    body("update_name_map", entries=alias_maps),
    body("sync_name_map", map=alias_maps),
    body("sync_qr_design", design=maybe(design_docs)),
    body(
        "sync_all_bank",
        bank_accounts=maybe(
            st.dictionaries(
                st.one_of(st.text(max_size=6).map("bank_accounts:".__add__), key_text),
                maybe(st.dictionaries(st.text(max_size=6), json_values, max_size=3)),
                max_size=3,
            )
        ),
    ),
    body("list_keys", **listing),
    body("get_key", key=maybe(key_text)),
    body(
        "delete_keys",
        keys=maybe(
            st.one_of(
                st.lists(key_text, max_size=5),
                st.builds(lambda key, count: [key] * count, key_text, st.sampled_from([49, 50, 51])),
            )
        ),
    ),
    body("list_failed", **listing),
    body("replay_failed", ids=st.one_of(st.lists(key_text, max_size=3), json_values)),
)
# Valid but for one hostile key each: a rejection then hinges on that key alone, and many are
# accepted, so the key rules are tested where they let a write through.
valid_codes = st.from_regex(r"[A-Z]{1,2}-[0-9]{1,2}", fullmatch=True)
one_key_bodies = st.one_of(
    body("sync_product", product=st.builds(product, key_text)),
    body("sync_all", products=st.lists(st.builds(product, st.one_of(valid_codes, key_text)), max_size=2)),
    body("delete_product", code=key_text),
    body("update_name_map", entries=st.dictionaries(key_text, valid_codes, min_size=1, max_size=1)),
    body("update_name_map", entries=st.dictionaries(valid_codes, key_text, min_size=1, max_size=1)),
    body("sync_name_map", map=st.dictionaries(key_text, valid_codes, min_size=1, max_size=1)),
    body("sync_product_sets", product_sets=st.dictionaries(key_text, set_docs, min_size=1, max_size=1)),
    body(
        "sync_all_bank",
        bank_accounts=st.dictionaries(key_text, st.just({"type": "bank"}), min_size=1, max_size=1),
    ),
    body("get_key", key=key_text),
    body("delete_keys", keys=st.lists(key_text, min_size=1, max_size=2)),
    body("replay_failed", ids=st.lists(key_text, min_size=1, max_size=1)),
)
json_bodies = st.one_of(
    one_key_bodies,
    shaped_bodies,
    # Extra top-level fields around a shaped body, and any JSON at all with or without an action.
    st.builds(
        lambda shaped, extra: {**extra, **shaped},
        shaped_bodies,
        st.dictionaries(st.text(max_size=6), json_values, max_size=2),
    ),
    st.builds(
        lambda action, extra: {**extra, "action": action}, actions, st.dictionaries(key_text, json_values)
    ),
    json_values,
)


def encodings(value: Any) -> st.SearchStrategy[bytes]:
    text = json.dumps(value)
    raw = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return st.one_of(
        st.just(text.encode()),  # what the Django client sends: \uXXXX escapes
        st.just(raw),  # raw UTF-8; lone surrogates become invalid UTF-8 bytes
        st.just(b"\xef\xbb\xbf" + text.encode()),
        st.integers(0, max(0, len(text) - 1)).map(lambda cut: text.encode()[:cut]),  # truncated
        st.builds(
            lambda at, junk: raw[:at] + junk + raw[at:],
            st.integers(0, len(raw)),
            st.sampled_from(
                [b"\xff", b"\x80", b"\xc0", b"\xfe", b"\x00", b"\\", b'"', b"}", b",", b"\xed\xa0\x80"]
            ),
        ),
    )


def deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# Raw bodies JSON cannot express from Python, each with the body as the Worker parses it (the
# nesting is too deep for Python's parser, and the model needs only the keys).
RAW_BODIES: list[tuple[bytes, Any]] = [
    (content, None)
    for content in (
        b"",
        b"{",
        b"[]",
        b"null",
        b"0",
        b'""',
        b"NaN",
        b'{"action":NaN}',
        b"{}{}",
        b'{"action":"list_keys","limit":1e999}',
        b'{"action":"list_keys","limit":-0}',
        b'{"action":"list_keys","limit":1.0}',
        b'{"action":"list_keys","limit":100000000000000000000000000001}',
        b'{"action":"get_key","key":"DUP-1","key":["DUP-2"]}',
        b'{"action":"sync_product","product":{"code":"__x__"},"product":{"code":"DUP-3"}}',
        b'{"action":"sync_product","product":{"code":"DUP-4"},"product":{"code":"__x__"}}',
        rb'{"action":"delete_product","code":"\ud800\udc00"}',
        rb'{"action":"delete_product","code":"\udc00\ud800"}',
        deep(1_000_000),
    )
] + [
    (
        b'{"action":"sync_product","product":{"code":"DEEP-1","x":' + deep(30_000) + b"}}",
        {"action": "sync_product", "product": {"code": "DEEP-1"}},
    ),
    (
        b'{"action":"sync_all","products":[{"code":"DEEP-2","variants":' + deep(30_000) + b"}]}",
        {"action": "sync_all", "products": [{"code": "DEEP-2"}]},
    ),
    (
        b'{"action":"sync_qr_design","design":{"colors":' + deep(30_000) + b"}}",
        {"action": "sync_qr_design", "design": {}},
    ),
    (b'{"action":"get_key","key":' + deep(30_000) + b"}", {"action": "get_key"}),
]
sync_contents = st.one_of(
    json_bodies.flatmap(encodings).map(lambda content: (content, None)),
    json_bodies.flatmap(encodings).map(lambda content: (content, None)),
    st.binary(max_size=40).map(lambda content: (content, None)),
    st.sampled_from(RAW_BODIES),
)


def examples_of(
    name: str, items: list[Any], **others: Any
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Every item also runs as an explicit example, whatever the generator draws."""

    def decorate(test: Callable[..., None]) -> Callable[..., None]:
        for item in reversed(items):
            test = example(**{name: item}, **others)(test)
        return test

    return decorate


# --- the runtime ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_worker(prod_settings: Settings) -> Iterator[LocalWorker]:
    """A Worker of its own, with in-memory KV, so the final listing can be compared with the model."""
    options = LocalOptions(port=0, api_key=API_KEY, batch_timeout_seconds=TEST_BATCH_TIMEOUT_SECONDS)
    with running(prod_settings, options) as local:
        yield local


@pytest.fixture(scope="module")
def client(fuzz_worker: LocalWorker) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fuzz_worker.url, timeout=60) as http:
        yield http


# Stored documents whose every field is a JSON value that String() cannot convert (a TypeError in
# JavaScript): the pages must still render. The page fuzzing renders them by name, and at random.
ODD_DOCUMENTS = [
    product(
        "ODD-1",
        name={"toString": 1},
        description={"toString": None, "valueOf": None},
        price={"valueOf": 1},
        currency={"toString": 1},
        unit=[{"toString": 1}],
        category={"toString": 1},
        variants=[{"code": {"toString": 1}, "color_name": {"toString": 1}, "price": "5"}, {"toString": 1}],
    ),
    product(
        "ODD-2",
        product_set={
            "name": {"toString": 1},
            "products": [{"code": {"toString": 1}, "name": {"toString": 1}, "material": {"toString": 1}}],
        },
    ),
    product("ODD-3", name=["<b>", ["<i>"]], code_list=[1, 2], variants={"toString": 1}),
]


@pytest.fixture(scope="module")
def ledger(client: httpx.Client) -> Ledger:
    """The model, with the template text of pages rendered from plain data (default design)."""
    model = Ledger()
    plain = product("PLAIN-1", name="Plain", product_set={"name": "Set", "products": [product("PLAIN-2")]})
    send(client, model, {"action": "sync_all", "products": [plain, product("PLAIN-3"), *ODD_DOCUMENTS]})
    wait_until(lambda: client.get("/PLAIN-3").status_code == 200, what="the plain pages")
    model.template = "".join(client.get(path).text for path in ("/PLAIN-1", "/PLAIN-3", "/no-such-code"))
    return model


# --- properties -------------------------------------------------------------------------------------

header_values = st.lists(
    st.sampled_from([byte for byte in range(1, 256) if byte not in b" \t\n\v\f\r"]), min_size=1, max_size=24
).map(bytes)
near_misses = st.sampled_from(
    [
        API_KEY[:-1],
        API_KEY + "0",
        API_KEY.upper(),
        API_KEY[1:],
        "x" + API_KEY,
        API_KEY.replace("-", "_"),
        "Bearer " + API_KEY,
        f"{API_KEY},{API_KEY}",
        f"{API_KEY}, x",
        API_KEY.replace("0", "O"),
        "local-dev-key",
        "undefined",
        "null",
    ]
).map(str.encode)
near_miss_bytes = st.sampled_from(
    [API_KEY.encode() + b"\xa0", b"\xa0" + API_KEY.encode(), API_KEY.encode() + b"\x7f"]
)
key_values = st.one_of(st.just(API_KEY.encode()), near_misses, near_miss_bytes, header_values)
EXTRA_HEADERS = [
    (b"Content-Encoding", b"gzip"),
    (b"Authorization", b"Bearer " + API_KEY.encode()),
    (b"Cookie", b"X-Sync-API-Key=" + API_KEY.encode()),
    (b"X-Forwarded-For", b"127.0.0.1"),
    (b"Origin", b"https://evil.example"),
    (b"Range", b"bytes=0-1"),
    (b"If-None-Match", b"*"),
    (b"X-HTTP-Method-Override", b"GET"),
    (b"Accept", b"text/html"),
]


@settings(FUZZ, max_examples=300)
@given(
    name=st.sampled_from(["X-Sync-API-Key", "x-sync-api-key", "X-SYNC-API-KEY"]),
    values=st.lists(key_values, max_size=3),
    content_type=st.one_of(
        st.none(),
        st.sampled_from(
            [b"application/json", b"text/plain", b"multipart/form-data; boundary=x", b"\xff\xfe"]
        ),
        header_values,
    ),
    extra=st.lists(
        st.one_of(
            st.sampled_from(EXTRA_HEADERS),
            st.tuples(st.from_regex(rb"X-F-[A-Za-z0-9!#$%&'*+.^_`|~-]{1,8}", fullmatch=True), header_values),
        ),
        max_size=3,
    ),
    kind=st.sampled_from(["write", "read", "junk"]),
    chunked=st.booleans(),
)
def test_only_the_exact_key_sent_once_is_accepted(
    client: httpx.Client,
    ledger: Ledger,
    name: str,
    values: list[bytes],
    content_type: bytes | None,
    extra: list[tuple[bytes, bytes]],
    kind: str,
    chunked: bool,
) -> None:
    code = ledger.unique("HDR-")
    content = {
        "write": json.dumps({"action": "sync_product", "product": product(code)}).encode(),
        "read": json.dumps({"action": "list_keys", "limit": 1}).encode(),
        "junk": b"{",
    }[kind]
    headers = [(name.encode(), value) for value in values]
    headers += [(b"Content-Type", content_type)] if content_type is not None else []
    headers += extra
    reply = post_sync(client, ledger, content, headers=headers, chunked=chunked)
    right = API_KEY.encode()
    if any(value != right for value in values) or not values:
        assert reply.status_code == 401, reply.text
        assert reply.json() == {"error": "Unauthorized"}
    elif len(values) == 1:
        assert reply.status_code == (400 if kind == "junk" else 200), reply.text
    else:
        assert reply.status_code in (200, 400, 401), reply.text  # the same right key twice: either


@settings(FUZZ, max_examples=1000)
@given(sent=sync_contents)
@examples_of("sent", RAW_BODIES)
def test_sync_bodies_never_fail_and_rejections_are_clean(
    client: httpx.Client, ledger: Ledger, sent: tuple[bytes, Any]
) -> None:
    content, parsed = sent
    post_sync(client, ledger, content, parsed=parsed)


HOSTILE_DESIGNS = [
    {
        "logo_url": "https://x.example/'onerror='alert(1)",
        "background_image_url": 'https://x.example/a.png") ; background:url(javascript:alert(1)',
        "logo_size": "1e9",
        "colors": {"primary": "red;}</style><script>alert(1)</script>", "price": 'rgb(1,2,3)"><script>'},
        "links": {
            "website": 'https://x.example/"><script>alert(1)</script>',
            "facebook": "JaVaScRiPt:alert(1)",
            "whatsapp": "javascript:alert(1)",
            "phone": '123"onclick="alert(1)',
            "email": 'a@b.co"><script>',
        },
    },
    {
        "logo_url": "data:image/png,<svg onload=alert(1)>",
        "background_image_url": "data:image/svg+xml;base64,PHN2Zz4=",
        "logo_size": -5,
        "links": {"website": "//evil.example/", "instagram": "data:text/html;base64,PHNjcmlwdD4="},
    },
    # Values String() and Number() cannot convert (a TypeError in JavaScript) in every field.
    {key: {"toString": 1} for key in ("logo_url", "background_image_url", "logo_size", "colors", "links")},
    {
        "logo_size": {"valueOf": {}},
        "colors": {"primary": {"toString": 1}},
        "links": {key: {"toString": 1} for key in ("website", "whatsapp", "phone", "email")},
    },
]


@settings(FUZZ, max_examples=100)
@given(design=design_docs)
@examples_of("design", HOSTILE_DESIGNS)
def test_a_hostile_design_never_reaches_the_page_unescaped(
    client: httpx.Client, ledger: Ledger, design: dict[str, Any]
) -> None:
    assert send(client, ledger, {"action": "sync_qr_design", "design": design}).status_code == 200
    strings = list(strings_in(design))
    for path in ("/PLAIN-1", "/PLAIN-3", "/no-such-code"):
        reply = client.get(path)
        assert reply.status_code == (404 if path == "/no-such-code" else 200), f"{path}: {reply.text[:500]}"
        page = reply.text
        audit_page(page)
        assert_no_raw_input(page, strings, ledger.template)


def marked(core: st.SearchStrategy[str], mark: str = "\u24c6") -> st.SearchStrategy[str]:
    """Text between marks, so trimming never applies and its raw form is unique to the input."""
    return core.map(lambda text: f"{mark}{text}{mark}")


hostile_text = st.one_of(
    st.text(max_size=16),
    st.sampled_from(PAYLOADS),
    st.builds(str.__add__, st.sampled_from(PAYLOADS), st.text(max_size=6)),
    st.text(st.sampled_from("<>\"'&;=/ \n\u0639\u202e"), max_size=12),
)
page_codes = st.text(
    st.characters(exclude_categories=("Cs", "Cc")) | st.sampled_from("<>\"'&%/?#;=\u202e"), max_size=10
)
page_products = st.fixed_dictionaries(
    {
        "code": page_codes,
        "name": marked(hostile_text),
        "description": marked(hostile_text),
        "category": marked(hostile_text),
        "unit": marked(hostile_text),
        "variants": st.lists(
            st.fixed_dictionaries(
                {"code": marked(page_codes), "color_name": marked(hostile_text), "color_hex": colours}
            ),
            max_size=2,
        ),
    },
    optional={
        "product_set": st.fixed_dictionaries(
            {
                "name": marked(hostile_text),
                "products": st.lists(
                    st.fixed_dictionaries(
                        {
                            "code": marked(page_codes),
                            "name": marked(hostile_text),
                            "material": marked(hostile_text),
                            "width": marked(hostile_text),
                            "unit": marked(hostile_text),
                            "category": marked(hostile_text),
                        }
                    ),
                    min_size=1,
                    max_size=2,
                ),
            }
        )
    },
)


def visible_strings(doc: dict[str, Any]) -> list[str]:
    """The fields the page shows as text (a set page shows its members instead of the product)."""
    if "product_set" in doc:
        found = [doc["product_set"]["name"]]
        for member in doc["product_set"]["products"]:
            found += [member[field] for field in ("code", "name", "material", "width", "unit", "category")]
        return found
    found = [doc["name"], doc["code"], doc["category"], doc["unit"]]
    found += [variant["color_name"] for variant in doc["variants"]]
    found += re.split(r"\r\n|\r|\n", doc["description"])
    return found


# Each case waits for the consumer, so a failure is reported as found, without shrinking.
@settings(FUZZ, max_examples=40, phases=[Phase.explicit, Phase.generate])
@given(docs=st.lists(page_products, min_size=1, max_size=3), form=st.sampled_from(["/", "/p/"]))
def test_every_synced_field_is_escaped_on_its_page(
    client: httpx.Client, ledger: Ledger, docs: list[dict[str, Any]], form: str
) -> None:
    use_site_design(client, ledger, "product pages")
    documents = [
        product(
            ledger.unique("\u24c5") + "-" + doc["code"] + "-\u24cf",
            **{k: v for k, v in doc.items() if k != "code"},
        )
        for doc in docs
    ]
    assert send(client, ledger, {"action": "sync_all", "products": documents}).status_code == 200
    paths = [form + quote(doc["code"], safe="") for doc in documents]
    wait_until(lambda: all(client.get(path).status_code != 404 for path in paths), what="the product pages")
    for doc, path in zip(documents, paths, strict=True):
        reply = client.get(path)
        assert reply.status_code == 200, f"{path}: {reply.status_code} {reply.text[:500]}"
        page = reply.text
        text = audit_page(page)
        assert_no_raw_input(page, list(strings_in(doc)), ledger.template)
        for shown in visible_strings(doc):
            assert shown.strip(JS_SPACE) in text, f"{shown!r} is missing from the page text"


RAW_PATH_CHARACTERS = "".join(chr(code) for code in range(33, 127) if chr(code) != "#")
path_pieces = st.one_of(
    st.text(max_size=16).map(lambda text: quote(text, safe="")),
    st.text(st.sampled_from(RAW_PATH_CHARACTERS), max_size=16),
    st.sampled_from(PAYLOADS + RESERVED + ODD_KEYS).map(
        lambda text: quote(text.encode("utf-8", "surrogatepass"), safe="")
    ),
    st.sampled_from(PAYLOADS).map(lambda text: quote(text, safe="<>\"'=():;/!")),
    st.sampled_from(
        [
            "%",
            "%%",
            "%zz",
            "%E0%A4%A",
            "%C3%28",
            "%ED%A0%80",
            "%F0%9F%98",
            "%00",
            "%2F",
            "%2e%2e",
            "%25",
            "%u003c",
        ]
    ),
    st.sampled_from(["sync", "health", "p", "P", "..", "."]),
    st.builds(
        lambda piece, count: piece * count,
        st.sampled_from(["a", "%D8%B9", "%E2%82%AC", "%3C"]),
        st.sampled_from([250, 255, 256, 500, 502, 503, 505, 510, 512, 513, 600]),
    ),
)
paths = st.builds(
    lambda prefix, pieces, suffix: prefix + "/".join(pieces) + suffix,
    st.sampled_from(["/", "/p/", "//", "/p//", "/P/"]),
    st.lists(path_pieces, max_size=3),
    st.sampled_from(["", "/", "//", "?q=<script>alert(1)</script>", "?"]),
)


def decoded_code(raw_path: bytes) -> str:
    """The code the Worker looks up, as near as Python can say (for the raw-echo check only)."""
    path = raw_path.decode("ascii", errors="replace").split("?", 1)[0].strip("/")
    return unquote(path.removeprefix("p/"), errors="replace")


@settings(FUZZ, max_examples=800)
@given(
    path=paths,
    live_index=st.one_of(st.none(), st.integers(0, 10_000)),
    method=st.sampled_from(["GET", "GET", "GET", "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]),
)
@examples_of(
    "path",
    [
        *(
            "/ODD-1",
            "/p/ODD-2/",
            "/ODD-3",
            "/" + "a" * 503,
            "/p/" + "%E2%82%AC" * 171,
            "/%3Cscript%3E",
            "/%zz",
        ),
        *(
            "/__QR_DESIGN_SETTINGS__",
            "/p/bank_accounts:CIB/",
            "/__alias__:PLAIN-1",
            "/%5F%5FSYNC_API_KEY%5F%5F",
        ),
    ],
    live_index=None,
    method="GET",
)
def test_page_paths_never_fail_nor_echo_the_path(
    client: httpx.Client, ledger: Ledger, path: str, live_index: int | None, method: str
) -> None:
    use_site_design(client, ledger, "page paths")
    if ledger.pages is None:
        ledger.pages = ledger.live()  # fixed for the whole test, so a failing case replays the same
    live = ledger.pages
    if live_index is not None and live:
        # Also render whatever documents the body fuzzing stored, under their own code.
        key = live[live_index % len(live)].encode("utf-8", "surrogatepass")
        path = "/" + quote(key, safe="") + "/" * (live_index % 2)
    url = httpx.URL(client.base_url).copy_with(raw_path=path.encode())
    reply = client.request(method, url)
    assert reply.status_code < 500, f"{method} {path}: {reply.status_code} {reply.text[:500]}"
    assert API_KEY not in reply.text
    kind = reply.headers.get("content-type", "")
    if method == "HEAD":
        assert reply.content == b""
        return
    if method != "GET":
        # 405 everywhere but POST /sync, which without a key is 401.
        assert 400 <= reply.status_code < 500 and reply.json()["error"], reply.text
        return
    if kind.startswith("application/json"):
        assert reply.json()["status"] == "ok" if reply.status_code == 200 else reply.json()["error"]
        return
    if reply.status_code == 302:
        assert reply.headers["location"].startswith("https://"), reply.headers
        return
    assert kind.startswith("text/html"), kind
    assert reply.status_code in (200, 400, 404), reply.status_code
    page = reply.text
    text = audit_page(page)
    if reply.status_code != 200:
        assert page == not_found_page(client, ledger), "the not-found page depends on the path"
    raw_path = reply.request.url.raw_path
    code = decoded_code(raw_path)
    if set("<\"'") & set(code) and code not in ledger.template:
        assert code not in page, f"the path {code!r} is echoed raw"
    # Reserved keys never render (when Python can tell the code: no dot segments nor backslashes).
    if is_reserved(code) and not re.search(rb"\\|%2e|(^|/)\.\.?(/|$|\?)", raw_path, re.IGNORECASE):
        assert reply.status_code != 200, f"the reserved key {code!r} rendered as a page"
    assert text


def not_found_page(client: httpx.Client, ledger: Ledger) -> str:
    """The 404 page for the current design (it changes only when a design write is accepted)."""
    if ledger.design_generation not in ledger.not_found:
        settle(client, ledger)
        ledger.not_found = {ledger.design_generation: client.get("/no-such-code").text}
    return ledger.not_found[ledger.design_generation]


def test_nothing_was_written_but_what_accepted_requests_wrote(
    client: httpx.Client, ledger: Ledger, fuzz_worker: LocalWorker
) -> None:
    settle(client, ledger)
    expected = {key for key in ledger.live() if not is_internal(key)}

    def listing() -> set[str]:
        keys: list[str] = []
        cursor = None
        while True:
            page = send(client, ledger, {"action": "list_keys", "limit": 1000, "cursor": cursor}).json()
            keys += page["keys"]
            if page["list_complete"]:
                return set(keys)
            cursor = page["cursor"]

    try:
        wait_until(
            lambda: listing() == expected, timeout=10, what="the KV listing to match the accepted writes"
        )
    except AssertionError:
        found = listing()
        raise AssertionError(
            f"written though never accepted: {sorted(found - expected)[:20]!r}; "
            f"accepted but lost: {sorted(expected - found)[:20]!r}"
        ) from None

    for alias in sorted(ledger.rejected_aliases - ledger.aliases):
        reply = send(client, ledger, {"action": "get_key", "key": alias})
        assert reply.status_code == 404, f"rejected alias {alias!r} exists: {reply.text}"

    failed = send(client, ledger, {"action": "list_failed", "limit": 100}).json()["failed"]
    assert failed == [], f"accepted writes ended as dead letters: {failed[:5]!r}"
    troubled = [
        event
        for event in fuzz_worker.events("consumer_batch")
        if event.get("retried") or event.get("deadLettered")
    ]
    assert troubled == [], f"the consumer retried or dead-lettered accepted writes: {troubled[:5]!r}"

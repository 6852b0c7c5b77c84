"""A small demo catalogue, seeded through the real /sync path of a running Worker."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import httpx

from qrsync.client import SyncClient

_LOGO_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200" viewBox="0 0 200 200">'
    '<circle cx="100" cy="100" r="96" fill="#1f2a44"/><circle cx="100" cy="100" r="80" fill="none" '
    'stroke="#c9a227" stroke-width="6"/><path d="M60 130 L100 60 L140 130 Z" fill="#c9a227"/></svg>'
)

DESIGN: dict[str, Any] = {
    "logo_url": "data:image/svg+xml;base64," + base64.b64encode(_LOGO_SVG.encode()).decode(),
    "logo_size": 120,
    "colors": {
        "primary": "#1f2a44",
        "secondary": "#c9a227",
        "background": "#f6f3ec",
        "card": "#ffffff",
        "button": "#1f2a44",
        "button_text": "#ffffff",
        "badge": "#c9a227",
        "badge_text": "#1f2a44",
        "price": "#0b6e4f",
        "product_name": "#1f2a44",
        "label": "#6b6b6b",
    },
    "links": {
        "website": "https://www.elkhawaga.uk",
        "facebook": "https://www.facebook.com/elkhawaga",
        "whatsapp": "+201000000000",
        "phone": "+20 100 000 0000",
    },
}

_SET_MEMBERS = [
    {
        "code": "LIN-200",
        "name": "كتان طبيعي",
        "price": 450,
        "currency": "EGP",
        "category": "كتان",
        "material": "كتان 100%",
        "width": "150 سم",
        "unit": "متر",
    },
    {
        "code": "LIN-201",
        "name": "كتان مطبوع",
        "price": 520,
        "currency": "EGP",
        "category": "كتان",
        "material": "كتان وقطن",
        "width": "140 سم",
        "unit": "متر",
    },
    {
        "code": "LIN-202",
        "name": "كتان ثقيل للستائر",
        "price": 690,
        "currency": "EGP",
        "category": "كتان",
        "material": "كتان",
        "width": "280 سم",
        "unit": "متر",
    },
]
PRODUCT_SET = {"name": "مجموعة الكتان الصيفية", "products": _SET_MEMBERS}


def _product(code: str, name: str, price: str, **extra: Any) -> dict[str, Any]:
    return {
        "code": code,
        "name": name,
        "description": extra.pop("description", ""),
        "price": price,
        "currency": extra.pop("currency", "EGP"),
        "unit": extra.pop("unit", "متر"),
        "category": extra.pop("category", None),
        "updated_at": time.strftime("%Y-%m-%d %H:%M"),
        "type": extra.pop("type", "standalone"),
        "variants": extra.pop("variants", []),
        **extra,
    }


PRODUCTS = [
    _product(
        "QT-1001",
        "قطيفة ملكية",
        "390.00",
        category="قطيفة",
        type="base_product",
        description="قطيفة ناعمة للمفروشات والستائر.\nعرض 140 سم.",
        variants=[
            {
                "code": "QT-1001-RD",
                "color_name": "أحمر نبيتي",
                "color_hex": "#7b1e2b",
                "price": "390.00",
                "is_available": True,
            },
            {
                "code": "QT-1001-BL",
                "color_name": "أزرق ملكي",
                "color_hex": "#1d3f8f",
                "price": "390.00",
                "is_available": True,
            },
            {
                "code": "QT-1001-GR",
                "color_name": "أخضر زيتي",
                "color_hex": "#556b2f",
                "price": "410.00",
                "is_available": False,
            },
        ],
    ),
    _product(
        "ST-2040",
        "ستان لامع",
        "185.50",
        category="ستان",
        variants=[
            {
                "code": "ST-2040-GD",
                "color_name": "ذهبي",
                "color_hex": "#c9a227",
                "price": "185.50",
                "is_available": True,
            }
        ],
    ),
    _product("JQ-3300", "جاكار منقوش", "1250.00", category="جاكار", description="جاكار تركي فاخر."),
    _product("CT-0007", "قطن مصري", "75", currency="USD", unit="meter", category=None),
    _product(
        "LIN-200",
        "كتان طبيعي",
        "450.00",
        category="كتان",
        product_set={"name": PRODUCT_SET["name"], "products": _SET_MEMBERS},
    ),
]
ALIASES = {"قطيفة ملكية": "QT-1001", "velvet": "QT-1001", "VELVET": "QT-1001"}


def seed(client: SyncClient, *, timeout_seconds: float = 30.0) -> Iterator[str]:
    """Send the demo catalogue, wait until it is served, and yield the lines to show the user."""
    client.sync_qr_design(DESIGN)
    client.sync_all(PRODUCTS)
    client.sync_product_sets({"set_1": PRODUCT_SET})
    client.update_name_map(ALIASES)
    yield f"seeded {len(PRODUCTS)} products, 1 product set, {len(ALIASES)} aliases and the design"
    urls = {
        "health": f"{client.url}/health",
        "product": f"{client.url}/QT-1001",
        "product set": f"{client.url}/LIN-200",
        "alias": f"{client.url}/velvet",
    }
    deadline = time.monotonic() + timeout_seconds
    # The queue consumer writes within one batch window; wait until every page is served.
    while not all(httpx.get(url).status_code == 200 for url in urls.values()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the demo catalogue was not served within {timeout_seconds:.0f} s")
        time.sleep(0.25)
    for label, url in urls.items():
        yield f"open {label}: {url}"


_WORDS = ["قطيفة", "ستان", "كتان", "قطن", "حرير", "جاكار", "شيفون", "تفتا", "دانتيل", "صوف", "مخمل", "بروكار"]
_COLOURS = [
    ("أحمر", "#b22222"),
    ("أزرق", "#1d3f8f"),
    ("أخضر", "#2e7d32"),
    ("ذهبي", "#c9a227"),
    ("أسود", "#111111"),
    ("أبيض", "#fafafa"),
    ("بيج", "#d8c3a5"),
    ("رمادي", "#8a8a8a"),
]


def generate_catalogue(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """`count` products shaped and sized like the live catalogue (0.2-4 KB, Arabic, variants, sets)."""
    import random

    rng = random.Random(seed)  # noqa: S311 (repeatable test data, not secrets)
    products = []
    for index in range(count):
        code = f"GEN-{index:06d}"
        word = rng.choice(_WORDS)
        variants = [
            {
                "code": f"{code}-{v}",
                "color_name": name,
                "color_hex": hex_,
                "price": f"{rng.randint(50, 2000)}.00",
                "is_available": rng.random() > 0.2,
            }
            for v, (name, hex_) in enumerate(rng.sample(_COLOURS, rng.randint(0, 8)))
        ]
        doc = _product(
            code,
            f"{word} {rng.choice(_WORDS)} {index}",
            f"{rng.randint(40, 2500)}.{rng.choice(['00', '50'])}",
            category=word,
            type=rng.choice(["base_product", "standalone"]),
            description=" ".join(rng.choices(_WORDS, k=rng.randint(0, 60))),
            variants=variants,
        )
        if index % 20 == 0:
            members = [
                {
                    "code": f"{code}-S{j}",
                    "name": f"{rng.choice(_WORDS)} {j}",
                    "price": rng.randint(50, 900),
                    "currency": "EGP",
                    "category": word,
                    "material": word,
                    "width": "150 سم",
                    "unit": "متر",
                }
                for j in range(rng.randint(2, 6))
            ]
            doc["product_set"] = {"name": f"مجموعة {word}", "products": members}
        products.append(doc)
    return products

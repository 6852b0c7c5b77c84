"""`make dev`'s path (setup excluded): the demo Worker starts, seeds itself, and serves real pages."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


@pytest.fixture(scope="module")
def demo() -> Iterator[dict[str, str]]:
    """Runs `python -m qrsync demo` and returns the URLs it printed, by label."""
    process = subprocess.Popen(
        [sys.executable, "-m", "qrsync", "demo", "--ephemeral", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    urls: dict[str, str] = {}
    deadline = time.monotonic() + 90
    for line in process.stdout:
        if match := re.fullmatch(r"open (.+): (http://127\.0\.0\.1:\d+/\S*)\n", line):
            urls[match[1]] = match[2]
        if "alias" in urls or time.monotonic() > deadline:
            break
    try:
        assert set(urls) == {"health", "product", "product set", "alias"}, urls
        yield urls
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        process.stdout.close()


def test_every_printed_url_is_served(demo: dict[str, str]) -> None:
    assert httpx.get(demo["health"]).json()["products_cached"] == 5  # the set key is not a product
    product = httpx.get(demo["product"])
    assert product.status_code == 200
    assert "قطيفة ملكية" in product.text
    assert "أحمر نبيتي" in product.text
    assert "مجموعة الكتان الصيفية" in httpx.get(demo["product set"]).text
    assert "قطيفة ملكية" in httpx.get(demo["alias"]).text


def test_the_product_page_renders_in_chromium(demo: dict[str, str], tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    assert chromium, "headless Chromium is needed for this test: apt-get install chromium"
    shot = Path(os.environ.get("QRSYNC_SCREENSHOT", tmp_path / "product.png"))
    subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=420,900",
            f"--screenshot={shot}",
            demo["product"],
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    with Image.open(shot) as image:
        assert image.size == (420, 900)
        pixels = dict((colour, count) for count, colour in image.convert("RGB").getcolors(1 << 20))
    # The demo design's colours, as a person sees them: page background, navy (logo, name, button)
    # and gold (logo ring, badge); an unstyled or error page has none of them.
    assert pixels.get((0xF6, 0xF3, 0xEC), 0) > 20_000
    assert pixels.get((0x1F, 0x2A, 0x44), 0) > 5_000
    assert pixels.get((0xC9, 0xA2, 0x27), 0) > 1_000

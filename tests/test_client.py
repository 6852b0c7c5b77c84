"""The sync client's retry policy against a real HTTP server that misbehaves on purpose."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from qrsync.client import SyncClient, SyncError


class Script:
    """Replies to POST /sync with the next (status, body) of a list; records what arrived."""

    def __init__(self, replies: list[tuple[int, dict[str, object]]]):
        self.replies = replies
        self.received: list[dict[str, object]] = []
        self.raw: list[bytes] = []
        self.headers: list[dict[str, str]] = []


@pytest.fixture()
def server() -> Iterator[tuple[str, Script]]:
    script = Script([])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            script.raw.append(body)
            script.received.append(json.loads(body))
            script.headers.append(dict(self.headers))
            status, reply = script.replies.pop(0)
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    httpd.shutdown()
    httpd.server_close()


def test_429_and_5xx_are_retried_with_doubling_back_off(server: tuple[str, Script]) -> None:
    url, script = server
    script.replies = [(429, {"error": "slow down"}), (503, {"error": "busy"}), (200, {"success": True})]
    pauses: list[float] = []
    with SyncClient(url, "k", sleep=pauses.append) as client:
        assert client.sync_product({"code": "A"}) == {"success": True}
    assert pauses == [2.0, 4.0]
    assert len(script.received) == 3
    assert script.headers[0]["X-Sync-API-Key"] == "k"
    assert script.headers[0]["Content-Type"] == "application/json"


def test_a_4xx_is_not_retried_and_says_what_the_worker_said(server: tuple[str, Script]) -> None:
    url, script = server
    script.replies = [(400, {"error": "products must be a JSON array"})]
    with SyncClient(url, "k", sleep=lambda _: None) as client, pytest.raises(SyncError) as error:
        client.call("sync_all", products="x")
    assert str(error.value) == f"{url} answered 400: products must be a JSON array"
    assert len(script.received) == 1


def test_retries_give_up_after_the_last_attempt(server: tuple[str, Script]) -> None:
    url, script = server
    script.replies = [(500, {"error": "KV PUT failed: 429 Too Many Requests"})] * 4
    with SyncClient(url, "k", sleep=lambda _: None) as client, pytest.raises(SyncError, match="answered 500"):
        client.delete_product("A")
    assert len(script.received) == 4


def test_non_ascii_is_sent_as_escapes_like_the_django_client(server: tuple[str, Script]) -> None:
    url, script = server
    script.replies = [(200, {"success": True})]
    with SyncClient(url, "k") as client:
        client.sync_product({"code": "A", "name": "قطيفة"})
    assert script.received[0] == {"action": "sync_product", "product": {"code": "A", "name": "قطيفة"}}
    assert b"\\u0642\\u0637" in script.raw[0]
    assert "قطيفة".encode() not in script.raw[0]

"""Benchmarks of the real Worker in workerd (`make bench`): sync latency, bulk sync, pages, stack.

One local runtime is started with the prod stack's settings unchanged (batch size 25, 5 s batch
window, 3 retries) and ephemeral state; every request goes to 127.0.0.1. Each measurement is a
bounded number of timed repetitions after a warm-up; see benchmarks/README.md for how to read them.

Statistics come from pyperf (psf/pyperf): its `Run`/`Benchmark` objects give the median and
percentiles, and the suite it writes (results/latest.pyperf.json) can be compared between commits
with `python -m pyperf compare_to`. Its `Runner` is not used: it re-runs each benchmark in fresh
worker processes, while what is measured here is one long-lived server. The timing loop itself is
`time.perf_counter` around one request, which is all a latency sample is.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pyperf

from qrsync.client import SyncClient
from qrsync.demo import DESIGN, generate_catalogue
from qrsync.local import WORKER_DIR, LocalOptions, LocalWorker, node_binary, running
from qrsync.settings import ROOT, load_settings, settings_from_stack_file, stack_file_values

RESULTS = Path(__file__).resolve().parent / "results"
API_KEY = "bench-key-3b9f1c7e"
BULK_PRODUCTS = 10_000
MAX_KV_OPS = 1_000
BULK_TIMEOUT_SECONDS = 180.0
DRAIN_TIMEOUT_SECONDS = 60.0
Product = dict[str, Any]


@dataclasses.dataclass
class Row:
    """One line of the results table: a pyperf benchmark (timings) or a single number."""

    label: str
    bench: pyperf.Benchmark | None = None
    value: str = ""
    note: str = ""


def timed(fn: Callable[[int], object], repeat: int, warmup: int) -> tuple[list[float], list[float]]:
    """(warm-up, measured) durations in seconds of `fn(i)`, one call each."""
    samples = []
    for i in range(warmup + repeat):
        start = time.perf_counter()
        fn(i)
        samples.append(time.perf_counter() - start)
    return samples[:warmup], samples[warmup:]


def benchmark(name: str, samples: tuple[list[float], list[float]]) -> pyperf.Benchmark:
    warmups, values = samples
    run = pyperf.Run(
        values, warmups=[(1, value) for value in warmups], metadata={"name": name, "unit": "second"}
    )
    return pyperf.Benchmark([run])


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.2f} ms"


# --- 5. the stack program under Pulumi mocks --------------------------------------------------------


def bench_stack(repeat: int = 20, warmup: int = 2) -> list[Row]:
    start = time.perf_counter()
    import pulumi

    pulumi_import = time.perf_counter() - start
    start = time.perf_counter()
    import pulumi_cloudflare  # noqa: F401 (timed: the one-time import every `pulumi up` pays)

    cloudflare_import = time.perf_counter() - start

    from qrsync.bundle import load_bundle
    from qrsync.component import ProductPages, ProductPagesArgs

    class Mocks(pulumi.runtime.Mocks):
        """Echo inputs; add the ids Cloudflare computes (as tests/test_stack.py does)."""

        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
            resource_id = f"{abs(hash((args.typ, args.name))):032x}"[:32]
            outputs = dict(args.inputs)
            if args.typ == "cloudflare:index/queue:Queue":
                outputs["queueId"] = resource_id
            return (resource_id if args.custom else ""), outputs

        def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
            raise AssertionError(f"the stack makes no provider calls, got {args.token}")

    ids = {"accountId": "0123456789abcdef0123456789abcdef", "zoneId": "fedcba9876543210fedcba9876543210"}
    settings = load_settings("prod", {**stack_file_values("prod"), **ids})
    bundle = load_bundle()

    def build(_: int) -> None:
        resolved: list[object] = []

        @pulumi.runtime.test
        def program() -> pulumi.Output[None]:
            pages = ProductPages(
                "qr", ProductPagesArgs(settings=settings, bundle=bundle, api_key=pulumi.Output.secret("k"))
            )
            outputs = (pages.kv_namespace_id, pages.queue_id, pages.dead_letter_queue_id, pages.script_name)
            return pulumi.Output.all(*outputs).apply(resolved.extend)

        program()
        if len(resolved) != 4 or not all(resolved):
            raise RuntimeError(f"the stack's outputs did not resolve: {resolved}")

    samples_warm: list[float] = []
    samples: list[float] = []
    for i in range(warmup + repeat):
        pulumi.runtime.reset_options()
        pulumi.runtime.set_mocks(Mocks(), project="elkhawaga-qr", stack="prod", preview=False)
        start = time.perf_counter()
        build(i)
        (samples_warm if i < warmup else samples).append(time.perf_counter() - start)
    return [
        Row(
            "stack: build ProductPages (prod) under mocks until outputs resolve",
            benchmark("stack_build", (samples_warm, samples)),
            note=f"first build (loads resource modules): {ms(samples_warm[0])}",
        ),
        Row("stack: `import pulumi` (one-time)", value=ms(pulumi_import)),
        Row("stack: `import pulumi_cloudflare` (one-time)", value=ms(cloudflare_import)),
    ]


# --- the local Worker --------------------------------------------------------------------------------


def consumer_batches(worker: LocalWorker, since: int = 0) -> list[dict[str, Any]]:
    return worker.events("consumer_batch")[since:]


def wait_for(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def drain(worker: LocalWorker, since: int, messages: int) -> None:
    """Wait until the consumer has taken `messages` queue messages since event index `since`."""
    wait_for(
        lambda: sum(e["messages"] for e in consumer_batches(worker, since)) >= messages,
        DRAIN_TIMEOUT_SECONDS,
        f"the consumer to take {messages} messages",
        interval=0.2,
    )


# --- 2 + 4. bulk sync with the operators' CLI --------------------------------------------------------


def readable_codes(client: SyncClient, prefix: str) -> set[str]:
    """Product keys listed under `prefix`: list_keys pages, 1,000 keys a request."""
    codes: set[str] = set()
    cursor = None
    while True:
        page = client.list_keys(1000, cursor)
        codes.update(key for key in page["keys"] if key.startswith(prefix))
        if page["list_complete"]:
            return codes
        cursor = page["cursor"]


def bench_bulk(worker: LocalWorker, client: SyncClient, products: list[Product]) -> tuple[list[Row], bool]:
    events_before = len(consumer_batches(worker))
    with tempfile.TemporaryDirectory(prefix="qrsync-bench-") as tmp:
        path = Path(tmp) / "catalogue.ndjson"
        path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in products), "utf-8")
        command = [sys.executable, "-m", "qrsync", "push", str(path), "--url", worker.url]
        start = time.perf_counter()
        push = subprocess.run(
            [*command, "--api-key", API_KEY], capture_output=True, text=True, timeout=BULK_TIMEOUT_SECONDS
        )
        pushed = time.perf_counter() - start
    if push.returncode != 0:
        print(f"qrsync push failed ({push.returncode}): {push.stderr.strip()[-500:]}", file=sys.stderr)

    wanted = {p["code"] for p in products}
    readable: set[str] = set()

    def all_readable() -> bool:
        nonlocal readable
        readable = readable_codes(client, "GEN-")
        return readable >= wanted

    try:
        wait_for(all_readable, BULK_TIMEOUT_SECONDS, "every product to be readable", interval=0.25)
    except TimeoutError as error:
        print(f"bulk sync: {error}; {len(wanted - readable)} products missing", file=sys.stderr)
    elapsed = time.perf_counter() - start

    start = time.perf_counter()
    stored = {p["code"]: p for p in client.export_products()}
    verified = time.perf_counter() - start
    lost = sum(1 for p in products if stored.get(p["code"]) != p)
    batches = consumer_batches(worker, events_before)
    max_ops = max((e["kvOps"] for e in batches), default=MAX_KV_OPS + 1)
    ok = lost == 0 and max_ops <= MAX_KV_OPS and push.returncode == 0
    rows = [
        Row(
            f"bulk sync: {len(products):,} products, `qrsync push` until all readable",
            value=f"{len(products) / elapsed:,.0f} products/s",
            note=f"{elapsed:.1f} s in all; push returned after {pushed:.1f} s",
        ),
        Row(
            "bulk sync: products lost (each document read back with export_products)",
            value=str(lost),
            note=f"must be 0; read-back of {len(stored):,} took {verified:.1f} s",
        ),
        Row("bulk sync: most KV operations in one consumer invocation", value=str(max_ops), note="must be ≤ 1,000"),
        Row(
            "bulk sync: consumer invocations",
            value=str(len(batches)),
            note=f"{sum(e['messages'] for e in batches)} messages, batch size 25",
        ),
    ]
    return rows, ok


# --- 3. product pages ------------------------------------------------------------------------------


def bench_pages(worker: LocalWorker, client: SyncClient, codes: Sequence[str], repeat: int = 300) -> list[Row]:
    client.sync_qr_design(DESIGN)  # pages read the design on every request, as in production
    aliases = {f"ALIAS-{i:04d}": codes[i * 7919 % len(codes)] for i in range(repeat)}
    client.update_name_map(aliases)
    rows = []
    with httpx.Client(base_url=worker.url, timeout=30) as http:

        def status(path: str) -> int:
            return http.get(path).status_code

        # Aliases are written by the consumer, within one batch window.
        for alias in aliases:
            wait_for(lambda a=alias: status(f"/{a}") == 200, DRAIN_TIMEOUT_SECONDS, f"alias {alias}")

        cases = {
            "page: GET /{code} (existing product)": ([f"/{codes[i * 37 % len(codes)]}" for i in range(repeat)], 200),
            "page: GET /{alias} lower-case (alias, upper-case fallback)": (
                [f"/{alias.lower()}" for alias in aliases],
                200,
            ),
            "page: GET /{unknown} (404)": ([f"/NOPE-{i:06d}" for i in range(repeat)], 404),
        }
        for label, (paths, expected) in cases.items():

            def get(i: int, paths: list[str] = paths, expected: int = expected) -> None:
                response = http.get(paths[i % len(paths)])
                if response.status_code != expected:
                    raise RuntimeError(f"GET {response.url.path}: {response.status_code}, expected {expected}")

            rows.append(Row(label, benchmark(label.split(":")[1].strip(), timed(get, repeat, warmup=20))))
    return rows


# --- 1. /sync acknowledgement latency ---------------------------------------------------------------


def bench_ack(worker: LocalWorker, products: list[Product]) -> list[Row]:
    def body(action: str, **fields: object) -> bytes:
        # The Django client's encoding: `requests`' json= escapes non-ASCII as \\uXXXX.
        return json.dumps({"action": action, **fields}, ensure_ascii=True).encode()

    def chunks(size: int) -> Iterator[list[Product]]:
        while True:
            yield from (products[i : i + size] for i in range(0, len(products), size))

    rows = []
    headers = {"X-Sync-API-Key": API_KEY, "Content-Type": "application/json"}
    with httpx.Client(base_url=worker.url, timeout=60, headers=headers) as http:
        cases = [
            ("sync_product", 1, 300, 30),
            ("sync_all", 50, 100, 5),
            ("sync_all", 500, 20, 3),
        ]
        for action, size, repeat, warmup in cases:
            source = chunks(size)
            bodies = [
                body("sync_product", product=next(source)[0])
                if action == "sync_product"
                else body("sync_all", products=next(source))
                for _ in range(repeat + warmup)
            ]
            messages = 0

            def post(i: int, bodies: list[bytes] = bodies) -> None:
                nonlocal messages
                response = http.post("/sync", content=bodies[i])
                if response.status_code != 200:
                    raise RuntimeError(f"/sync answered {response.status_code}: {response.text[:200]}")
                messages += response.json().get("messages", 1)

            events_before = len(consumer_batches(worker))
            samples = timed(post, repeat, warmup)
            label = f"/sync ack: {action}, {size} product{'s' if size > 1 else ''}"
            kilobytes = sum(len(b) for b in bodies) / len(bodies) / 1000
            note = f"{kilobytes:,.0f} KB a request" + ("; goal p99 ≤ 5 ms" if size == 1 else "")
            rows.append(Row(label, benchmark(f"ack_{action}_{size}", samples), note=note))
            # The next case starts on an idle queue: the consumer shares this machine's 2 cores.
            drain(worker, events_before, messages)

    request = {"action": "sync_all", "products": products[:500]}
    encode = benchmark(
        "encode_sync_all_500",
        timed(lambda _: json.dumps(request, ensure_ascii=True).encode(), repeat=20, warmup=2),
    )
    rows.append(Row("client: JSON-encode the 500-product request (for comparison)", encode))
    ack_500 = rows[2].bench
    assert ack_500 is not None
    rows[2].note += f"; {ack_500.median() / encode.median():.1f}× the client's encode time"
    return rows


# --- report ----------------------------------------------------------------------------------------


def machine_info() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    with_model = Path("/proc/cpuinfo")
    if with_model.exists():
        models = [line.split(":", 1)[1].strip() for line in with_model.read_text().splitlines() if line.startswith("model name")]
        cpu = models[0] if models else cpu
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    lock = json.loads((WORKER_DIR / "package-lock.json").read_text(encoding="utf-8"))["packages"]
    try:
        os_name = platform.freedesktop_os_release()["PRETTY_NAME"]
    except OSError:
        os_name = platform.system()
    node = subprocess.run([node_binary(), "--version"], capture_output=True, text=True, check=True)
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram": f"{ram:.1f} GiB",
        "os": f"{os_name} ({platform.platform()})",
        "python": platform.python_version(),
        "node": node.stdout.strip(),
        "miniflare": lock["node_modules/miniflare"]["version"],
        "workerd": lock["node_modules/workerd"]["version"],
        "pyperf": pyperf.__version__,
    }


def table(rows: list[Row]) -> str:
    lines = ["| measurement | runs | median | p99 | notes |", "|---|---:|---:|---:|---|"]
    for row in rows:
        if row.bench is not None:
            cells = [str(row.bench.get_nvalue()), ms(row.bench.median()), ms(row.bench.percentile(99))]
        else:
            cells = ["1", row.value, ""]
        lines.append(f"| {row.label} | {' | '.join(cells)} | {row.note} |")
    return "\n".join(lines)


def write_results(machine: dict[str, str], rows: list[Row], ok: bool, wall: float) -> Path:
    RESULTS.mkdir(exist_ok=True)
    results = []
    for row in rows:
        entry: dict[str, Any] = {"measurement": row.label, "notes": row.note}
        if row.bench is not None:
            bench = row.bench
            entry |= {
                "unit": "second",
                "runs": bench.get_nvalue(),
                "median": bench.median(),
                "p99": bench.percentile(99),
                "mean": bench.mean(),
                "min": min(bench.get_values()),
                "max": max(bench.get_values()),
                "values": list(bench.get_values()),
            }
        else:
            entry["value"] = row.value
        results.append(entry)
    report = {"machine": machine, "ok": ok, "wall_seconds": round(wall, 1), "results": results}
    path = RESULTS / "latest.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    suite = pyperf.BenchmarkSuite([row.bench for row in rows if row.bench is not None])
    suite.dump(str(RESULTS / "latest.pyperf.json"), replace=True)
    return path


def main() -> int:
    started = time.perf_counter()
    machine = machine_info()
    for key, value in machine.items():
        print(f"{key:>10}: {value}")
    print("\n[stack] Pulumi program under mocks …", flush=True)
    rows = bench_stack()

    settings = settings_from_stack_file("prod")  # batch size 25, 5 s window, 3 retries: unchanged
    options = LocalOptions(port=0, api_key=API_KEY, persist_dir=None)
    with running(settings, options) as worker, SyncClient(worker.url, API_KEY) as client:
        if urlsplit(worker.url).hostname != "127.0.0.1":
            raise RuntimeError(f"the local Worker listens on {worker.url}, not 127.0.0.1")
        products = generate_catalogue(BULK_PRODUCTS, seed=7)
        print(f"[bulk] {worker.url}: pushing {len(products):,} products with `qrsync push` …", flush=True)
        bulk_rows, ok = bench_bulk(worker, client, products)
        print("[pages] product, alias and 404 pages …", flush=True)
        page_rows = bench_pages(worker, client, [p["code"] for p in products])
        print("[ack] /sync acknowledgement latency …", flush=True)
        ack_products = [{**p, "code": f"ACK-{i:06d}"} for i, p in enumerate(generate_catalogue(500, seed=11))]
        ack_rows = bench_ack(worker, ack_products)
        session_max = max(e["kvOps"] for e in consumer_batches(worker))
        ok = ok and session_max <= MAX_KV_OPS
        bulk_rows.append(
            Row("whole run: most KV operations in one consumer invocation", value=str(session_max), note="must be ≤ 1,000")
        )
    rows = ack_rows + bulk_rows + page_rows + rows
    wall = time.perf_counter() - started
    path = write_results(machine, rows, ok, wall)
    print()
    print(table(rows))
    print(f"\ntotal wall time {wall:.0f} s; results in {path.relative_to(ROOT)} (+ latest.pyperf.json)")
    if not ok:
        print("FAILED: products were lost or a consumer invocation passed 1,000 KV operations", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Benchmarks of the real Worker in workerd (`make bench`): sync latency, bulk sync, pages, stack.

One local runtime is started with the prod stack's settings unchanged (batch size 25, 5 s batch
window, 3 retries) and ephemeral state; every request goes to 127.0.0.1. Each timing is a bounded
number of repetitions after a warm-up; benchmarks/README.md says how to read the results.

Statistics come from pyperf (psf/pyperf): its `Run`/`Benchmark` objects give the median and the
percentiles, and the suite it writes (results/latest.pyperf.json) can be compared between commits
with `python -m pyperf compare_to`. Its `Runner` is not used: it re-runs every benchmark in fresh
worker processes and calibrates loops, while what is measured here is one long-lived server and
one request per sample, so a sample is simply `time.perf_counter()` around that request.
"""

from __future__ import annotations

import dataclasses
import hashlib
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

from qrsync.client import SyncClient, plan_requests
from qrsync.demo import DESIGN, generate_catalogue
from qrsync.local import WORKER_DIR, LocalOptions, LocalWorker, node_binary, running
from qrsync.settings import ROOT, load_settings, settings_from_stack_file, stack_file_values

RESULTS = Path(__file__).resolve().parent / "results"
API_KEY = "bench-key-3b9f1c7e"
BULK_PRODUCTS = 10_000
MAX_KV_OPS = 1_000
TIMEOUT_SECONDS = 120.0  # any one wait; a normal run needs ~30 s for the longest
Product = dict[str, Any]


@dataclasses.dataclass
class Timing:
    label: str
    bench: pyperf.Benchmark
    note: str = ""


@dataclasses.dataclass
class Figure:
    label: str
    value: str
    note: str = ""


def timed(
    name: str,
    fn: Callable[[int], object],
    repeat: int,
    warmup: int,
    before: Callable[[], object] = lambda: None,
) -> pyperf.Benchmark:
    """`warmup` + `repeat` calls of `fn(i)`, each timed alone; `before()` runs untimed before each."""
    samples = []
    for i in range(warmup + repeat):
        before()
        start = time.perf_counter()
        fn(i)
        samples.append(time.perf_counter() - start)
    warmups = [(1, value) for value in samples[:warmup]]
    run = pyperf.Run(samples[warmup:], warmups=warmups, metadata={"name": name, "unit": "second"})
    return pyperf.Benchmark([run])


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.2f} ms"


def wait_for(check: Callable[[], bool], what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {TIMEOUT_SECONDS:.0f} s waiting for {what}")
        time.sleep(interval)


# --- 5. the stack program under Pulumi mocks --------------------------------------------------------


def bench_stack() -> tuple[list[Timing], list[Figure]]:
    start = time.perf_counter()
    import pulumi

    pulumi_import = time.perf_counter() - start
    start = time.perf_counter()
    import pulumi_cloudflare  # noqa: F401 (timed: the one-time import every `pulumi up` pays)

    cloudflare_import = time.perf_counter() - start

    from qrsync.bundle import load_bundle
    from qrsync.component import ProductPages, ProductPagesArgs

    class Mocks(pulumi.runtime.Mocks):
        """Echo the inputs; add the ids Cloudflare computes (as tests/test_stack.py does)."""

        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
            resource_id = hashlib.sha256(f"{args.typ}/{args.name}".encode()).hexdigest()[:32]
            outputs = dict(args.inputs)
            if args.typ == "cloudflare:index/queue:Queue":
                outputs["queueId"] = resource_id
            return (resource_id if args.custom else ""), outputs

        def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
            raise AssertionError(f"the stack makes no provider calls, got {args.token}")

    ids = {"accountId": "0123456789abcdef0123456789abcdef", "zoneId": "fedcba9876543210fedcba9876543210"}
    settings = load_settings("prod", {**stack_file_values("prod"), **ids})
    bundle = load_bundle()

    def fresh_stack() -> None:
        pulumi.runtime.reset_options()
        pulumi.runtime.set_mocks(Mocks(), project="elkhawaga-qr", stack="prod", preview=False)

    def build(_: int) -> None:
        resolved: list[object] = []

        def program() -> pulumi.Output[None]:
            pages = ProductPages(
                "qr", ProductPagesArgs(settings=settings, bundle=bundle, api_key=pulumi.Output.secret("k"))
            )
            outputs = (pages.kv_namespace_id, pages.queue_id, pages.dead_letter_queue_id, pages.script_name)
            return pulumi.Output.all(*outputs).apply(resolved.extend)

        pulumi.runtime.test(program)()  # type: ignore[no-untyped-call]  # runs it, awaits every output
        if len(resolved) != 4 or not all(resolved):
            raise RuntimeError(f"the stack's outputs did not resolve: {resolved}")

    bench = timed("stack_build", build, repeat=20, warmup=2, before=fresh_stack)
    first = bench.get_runs()[0].warmups[0][1]
    return [
        Timing(
            "stack: build ProductPages (prod) under mocks until outputs resolve",
            bench,
            f"first build {ms(first)} (warm-up, loads the resource modules)",
        )
    ], [
        Figure("stack: `import pulumi` (one-time)", ms(pulumi_import)),
        Figure("stack: `import pulumi_cloudflare` (one-time, after pulumi)", ms(cloudflare_import)),
    ]


# --- the local Worker's queue consumer -----------------------------------------------------------------


class Consumer:
    """Counts queue messages sent and taken (from the Worker's `consumer_batch` log lines)."""

    def __init__(self, worker: LocalWorker, batch_size: int) -> None:
        self.worker = worker
        self.batch_size = batch_size
        self.since = len(self.batches())
        self.sent = 0

    def batches(self, since: int = 0) -> list[dict[str, Any]]:
        return self.worker.events("consumer_batch")[since:]

    def taken(self) -> int:
        return sum(event["messages"] for event in self.batches(self.since))

    def idle(self) -> None:
        """Wait until no full batch waits or is being written: the consumer shares our 2 cores."""
        wait_for(lambda: self.taken() > self.sent - self.batch_size, "the consumer", interval=0.002)

    def drain(self) -> None:
        wait_for(lambda: self.taken() >= self.sent, f"the consumer to take {self.sent} messages", 0.2)


# --- 2 + 4. bulk sync with the operators' CLI --------------------------------------------------------


def readable_codes(client: SyncClient, prefix: str) -> set[str]:
    """Product keys listed under `prefix`: list_keys pages of 1,000 keys."""
    codes: set[str] = set()
    cursor = None
    while True:
        page = client.list_keys(1000, cursor)
        codes.update(key for key in page["keys"] if key.startswith(prefix))
        if page["list_complete"]:
            return codes
        cursor = page["cursor"]


def bench_bulk(worker: LocalWorker, client: SyncClient, products: list[Product]) -> tuple[list[Figure], bool]:
    events_before = len(worker.events("consumer_batch"))
    requests = sum(1 for _ in plan_requests(products))
    with tempfile.TemporaryDirectory(prefix="qrsync-bench-") as tmp:
        path = Path(tmp) / "catalogue.ndjson"
        path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in products), "utf-8")
        command = [sys.executable, "-m", "qrsync", "push", str(path), "--url", client.url]
        start = time.perf_counter()
        push = subprocess.run(
            [*command, "--api-key", API_KEY], capture_output=True, text=True, timeout=TIMEOUT_SECONDS
        )
        pushed = time.perf_counter() - start
    if push.returncode != 0:
        print(f"qrsync push failed ({push.returncode}): {push.stderr.strip()[-500:]}", file=sys.stderr)

    wanted = {p["code"] for p in products}
    try:
        wait_for(lambda: readable_codes(client, "GEN-") >= wanted, "every product to be readable", 0.25)
    except TimeoutError as error:
        print(f"bulk sync: {error}", file=sys.stderr)
    elapsed = time.perf_counter() - start

    start = time.perf_counter()
    stored = {p["code"]: p for p in client.export_products()}
    verified = time.perf_counter() - start
    lost = sum(1 for p in products if stored.get(p["code"]) != p)
    batches = worker.events("consumer_batch")[events_before:]
    max_ops = max((event["kvOps"] for event in batches), default=MAX_KV_OPS + 1)
    figures = [
        Figure(
            f"bulk sync: {len(products):,} products with `qrsync push`, until all are listed",
            f"{len(products) / elapsed:,.0f} products/s",
            f"{elapsed:.1f} s in all; push returned after {pushed:.1f} s ({requests} requests)",
        ),
        Figure(
            "bulk sync: products lost or changed (each read back with export_products)",
            str(lost),
            f"must be 0; reading back {len(stored):,} took {verified:.1f} s",
        ),
        Figure("bulk sync: most KV operations in one consumer invocation", str(max_ops), "must be ≤ 1,000"),
        Figure(
            "bulk sync: consumer invocations",
            str(len(batches)),
            f"{sum(event['messages'] for event in batches)} messages",
        ),
    ]
    return figures, lost == 0 and max_ops <= MAX_KV_OPS and push.returncode == 0


# --- 3. product pages ------------------------------------------------------------------------------


def bench_pages(client: SyncClient, codes: Sequence[str], repeat: int = 300) -> list[Timing]:
    client.sync_qr_design(DESIGN)  # pages read the design on every request, as in production
    aliases = {f"ALIAS-{i:04d}": codes[i * 7919 % len(codes)] for i in range(repeat)}
    client.update_name_map(aliases)
    cases = {
        "page_product": ("page: GET /{code}, an existing product", 200, [f"/{c}" for c in codes[::37]]),
        "page_alias": (
            "page: GET /{alias} in lower case (upper-case alias fallback)",
            200,
            [f"/{alias.lower()}" for alias in aliases],
        ),
        "page_404": ("page: GET /{unknown code}, 404", 404, [f"/NOPE-{i:06d}" for i in range(repeat)]),
    }
    timings = []
    with httpx.Client(base_url=client.url, timeout=30) as http:
        # The consumer writes the aliases within one batch window.
        wait_for(lambda: http.get(f"/{list(aliases)[-1].lower()}").status_code == 200, "the aliases", 0.2)
        for name, (label, expected, paths) in cases.items():

            def get(i: int, paths: list[str] = paths, expected: int = expected) -> None:
                response = http.get(paths[i % len(paths)])
                if response.status_code != expected:
                    raise RuntimeError(
                        f"GET {response.url.path}: {response.status_code}, expected {expected}"
                    )

            timings.append(Timing(label, timed(name, get, repeat, warmup=20)))
    return timings


# --- 1. /sync acknowledgement latency ---------------------------------------------------------------


def bench_ack(consumer: Consumer, url: str, products: list[Product]) -> list[Timing]:
    def body(action: str, **fields: object) -> bytes:
        # The Django client's encoding: `requests`' json= escapes non-ASCII as \\uXXXX.
        return json.dumps({"action": action, **fields}, ensure_ascii=True).encode()

    def chunks(size: int) -> Iterator[list[Product]]:
        while True:
            yield from (products[i : i + size] for i in range(0, len(products), size))

    timings = []
    headers = {"X-Sync-API-Key": API_KEY, "Content-Type": "application/json"}
    with httpx.Client(base_url=url, timeout=60, headers=headers) as http:

        def post(content: bytes, status: int = 200) -> None:
            response = http.post("/sync", content=content)
            if response.status_code != status:
                raise RuntimeError(f"/sync answered {response.status_code}: {response.text[:200]}")
            consumer.sent += response.json().get("messages", 1) if status == 200 else 0

        for action, size, repeat, warmup in [
            ("sync_product", 1, 300, 30),
            ("sync_all", 50, 100, 5),
            ("sync_all", 500, 20, 3),
        ]:
            source = chunks(size)
            bodies = [
                body(action, product=next(source)[0]) if size == 1 else body(action, products=next(source))
                for _ in range(repeat + warmup)
            ]

            def send(i: int, bodies: list[bytes] = bodies) -> None:
                post(bodies[i])

            bench = timed(f"ack_{size}", send, repeat, warmup, before=consumer.idle)
            note = f"{sum(map(len, bodies)) / len(bodies) / 1000:,.0f} KB a request"
            timings.append(
                Timing(f"/sync ack: {action}, {size} product{'s' if size > 1 else ''}", bench, note)
            )
        timings[0].note += "; goal: p99 ≤ 5 ms"

        # What parsing alone costs the Worker: the same body with an action it rejects after parsing.
        parse_only = body("bench_parse_only", products=products[:500])
        parse = timed("parse_500", lambda _: post(parse_only, status=400), 20, 3, before=consumer.idle)
        timings.append(Timing("/sync: the 500-product body, unknown action (read + parse → 400)", parse))

    request = {"action": "sync_all", "products": products[:500]}
    encode = timed("encode_500", lambda _: json.dumps(request, ensure_ascii=True).encode(), 20, 2)
    timings.append(Timing("client: JSON-encode the 500-product request", encode))
    ack_500 = timings[2]
    ack_500.note += (
        f"; {ack_500.bench.median() / parse.median():.1f}x the Worker's parse-only request, "
        f"{ack_500.bench.median() / encode.median():.1f}x the client's encode"
    )
    return timings


# --- report ----------------------------------------------------------------------------------------


def machine_info() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text(encoding="utf-8").splitlines() if cpuinfo.exists() else []
    models = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    try:
        os_name = platform.freedesktop_os_release()["PRETTY_NAME"]
    except OSError:
        os_name = platform.system()
    lock = json.loads((WORKER_DIR / "package-lock.json").read_text(encoding="utf-8"))["packages"]
    node = subprocess.run([node_binary(), "--version"], capture_output=True, text=True, check=True)
    return {
        "cpu": models[0] if models else platform.processor() or platform.machine(),
        "cores": str(os.cpu_count()),
        "ram": f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB",
        "os": f"{os_name}, {platform.platform()}",
        "python": platform.python_version(),
        "node": node.stdout.strip(),
        "miniflare": lock["node_modules/miniflare"]["version"],
        "workerd": lock["node_modules/workerd"]["version"],
        "pyperf": pyperf.__version__,
    }


def tables(timings: list[Timing], figures: list[Figure]) -> str:
    lines = ["| timing | runs | median | p99 | notes |", "|---|---:|---:|---:|---|"]
    for t in timings:
        cells = [str(t.bench.get_nvalue()), ms(t.bench.median()), ms(t.bench.percentile(99)), t.note]
        lines.append(f"| {t.label} | {' | '.join(cells)} |")
    lines += ["", "| result | value | notes |", "|---|---:|---|"]
    lines += [f"| {f.label} | {f.value} | {f.note} |" for f in figures]
    return "\n".join(lines)


def write_results(report: dict[str, Any], timings: list[Timing], figures: list[Figure]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    report["timings"] = [
        {
            "timing": t.label,
            "notes": t.note,
            "unit": "second",
            "runs": t.bench.get_nvalue(),
            "median": t.bench.median(),
            "p99": t.bench.percentile(99),
            "mean": t.bench.mean(),
            "min": min(t.bench.get_values()),
            "max": max(t.bench.get_values()),
            "values": list(t.bench.get_values()),
        }
        for t in timings
    ]
    report["results"] = [dataclasses.asdict(f) for f in figures]
    path = RESULTS / "latest.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    pyperf.BenchmarkSuite([t.bench for t in timings]).dump(str(RESULTS / "latest.pyperf.json"), replace=True)
    return path


def main() -> int:
    started = time.perf_counter()
    machine = machine_info()
    print("[stack] the Pulumi program under mocks …", flush=True)
    timings, figures = bench_stack()

    settings = settings_from_stack_file("prod")  # batch size 25, 5 s window, 3 retries: unchanged
    options = LocalOptions(port=0, api_key=API_KEY, persist_dir=None)
    with running(settings, options) as worker, SyncClient(worker.url, API_KEY) as client:
        if urlsplit(worker.url).hostname != "127.0.0.1":
            raise RuntimeError(f"the local Worker listens on {worker.url}, not 127.0.0.1")
        products = generate_catalogue(BULK_PRODUCTS, seed=7)
        print(f"[bulk] {worker.url}: {len(products):,} products with `qrsync push` …", flush=True)
        bulk, ok = bench_bulk(worker, client, products)
        print("[pages] product, alias and 404 pages …", flush=True)
        pages = bench_pages(client, [p["code"] for p in products])
        print("[ack] /sync acknowledgement latency …", flush=True)
        ack_products = [{**p, "code": f"ACK-{i:06d}"} for i, p in enumerate(generate_catalogue(500, seed=11))]
        consumer = Consumer(worker, settings.batch_size)  # counts from here: bulk and aliases are done
        ack = bench_ack(consumer, worker.url, ack_products)
        consumer.drain()
        most_ops = max(event["kvOps"] for event in worker.events("consumer_batch"))
        ok = ok and most_ops <= MAX_KV_OPS
    figures = [
        *bulk,
        Figure("whole run: most KV operations in one consumer invocation", str(most_ops), "must be ≤ 1,000"),
        *figures,
    ]
    timings = ack + pages + timings
    wall = time.perf_counter() - started
    path = write_results({"machine": machine, "ok": ok, "wall_seconds": round(wall, 1)}, timings, figures)
    print(f"\n{tables(timings, figures)}\n")
    print("machine: " + ", ".join(f"{key} {value}" for key, value in machine.items()))
    print(f"total wall time {wall:.0f} s; results in {path.relative_to(ROOT)} and latest.pyperf.json")
    if not ok:
        print(
            "FAILED: products were lost or a consumer invocation passed 1,000 KV operations", file=sys.stderr
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

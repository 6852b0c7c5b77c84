"""`python -m qrsync …`: the local runtime, the demo, and the operators' tools."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from qrsync.client import DEFAULT_URL, SyncClient, SyncError, plan_requests, product_problem
from qrsync.local import DEFAULT_API_KEY, STATE_DIR, LocalOptions, LocalRuntimeError, start
from qrsync.settings import PROD_STACK, settings_from_stack_file


class CliError(Exception):
    """One readable line for the user; the command exits 1."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except (CliError, SyncError, LocalRuntimeError, ValueError, OSError) as error:
        print(f"qrsync: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qrsync", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    dev = commands.add_parser("dev", help="run the Worker locally in workerd with the stack's bindings")
    _runtime_arguments(dev)
    dev.set_defaults(run=_dev)

    demo = commands.add_parser("demo", help="run the Worker locally and seed it with a demo catalogue")
    _runtime_arguments(demo)
    demo.set_defaults(run=_demo)

    push = commands.add_parser("push", help="send product documents (JSON array or NDJSON) with sync_all")
    push.add_argument("file", help="a .json array or an NDJSON file of product documents; - for stdin")
    push.add_argument("--dry-run", action="store_true", help="validate every document, send nothing")
    push.add_argument(
        "--request-bytes",
        type=int,
        default=1_000_000,
        help="largest request body in bytes (default 1,000,000); the Worker splits it into queue messages",
    )
    _target_arguments(push)
    push.set_defaults(run=_push)

    export = commands.add_parser("export", help="write every product of a deployment as NDJSON (for push)")
    export.add_argument("file", help="output file; - for stdout")
    _target_arguments(export)
    export.set_defaults(run=_export)

    status = commands.add_parser("status", help="health of a deployment and its dead-letter store")
    _target_arguments(status)
    status.set_defaults(run=_status)

    failed = commands.add_parser("failed", help="messages that could not be written (dead letters)")
    failed_commands = failed.add_subparsers(required=True, metavar="ACTION")
    failed_list = failed_commands.add_parser("list", help="list the dead-letter store")
    _target_arguments(failed_list)
    failed_list.set_defaults(run=_failed_list)
    replay = failed_commands.add_parser("replay", help="put dead letters back on the queue (all by default)")
    replay.add_argument("ids", nargs="*", metavar="ID", help="dead-letter ids from `failed list`")
    _target_arguments(replay)
    replay.set_defaults(run=_failed_replay)
    return parser


def _runtime_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", default=PROD_STACK, help="stack whose Pulumi.<stack>.yaml to mirror")
    parser.add_argument("--port", type=int, default=8787, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="the SYNC_API_KEY of the local Worker")
    parser.add_argument("--ephemeral", action="store_true", help="keep no state on disk")
    parser.add_argument(
        "--state-dir", type=Path, default=STATE_DIR, help="where KV and queue state is kept (per stack)"
    )
    parser.add_argument(
        "--kv-fault",
        metavar="PREFIX",
        help="make KV writes of keys starting with PREFIX fail (rehearse the dead-letter path)",
    )


def _target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=os.environ.get("QRSYNC_URL", DEFAULT_URL),
        help="Worker URL (env QRSYNC_URL; default: the local runtime)",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("QRSYNC_API_KEY", DEFAULT_API_KEY),
        help="X-Sync-API-Key (env QRSYNC_API_KEY)",
    )


def _client(args: argparse.Namespace) -> SyncClient:
    return SyncClient(args.url, args.api_key)


# --- local runtime ------------------------------------------------------------------------------


def _serve(args: argparse.Namespace, after_start: Callable[[str], None]) -> int:
    settings = settings_from_stack_file(args.stack)
    options = LocalOptions(
        port=args.port,
        api_key=args.api_key,
        persist_dir=None if args.ephemeral else args.state_dir / args.stack,
        kv_fault_prefix=args.kv_fault,
    )
    signal.signal(signal.SIGTERM, _interrupt)
    worker = start(settings, options)
    try:
        print(worker.url, flush=True)
        after_start(worker.url)
        shown = 0
        while worker.process.poll() is None:
            logs = worker.logs[shown:]
            shown += len(logs)
            for line in logs:
                print(line, flush=True)
            time.sleep(0.2)
        raise CliError(f"the local Worker exited with status {worker.process.returncode}")
    except KeyboardInterrupt:
        return 0
    finally:
        worker.stop()


def _interrupt(signum: int, frame: object) -> None:
    # SIGTERM stops the local Worker the same way Ctrl-C does.
    raise KeyboardInterrupt


def _dev(args: argparse.Namespace) -> int:
    return _serve(args, lambda url: None)


def _demo(args: argparse.Namespace) -> int:
    from qrsync.demo import seed

    def seed_and_show(url: str) -> None:
        with SyncClient(url, args.api_key) as client:
            for line in seed(client):
                print(line, flush=True)

    return _serve(args, seed_and_show)


# --- operators' tools ---------------------------------------------------------------------------


@dataclass
class _Document:
    where: str
    """"line N" (NDJSON) or "index N" (JSON array), for error reports."""
    value: Any


def read_documents(source: TextIO, name: str) -> list[_Document]:
    text = source.read()
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise CliError(
                f"{name}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
            ) from None
        return [_Document(f"index {i}", value) for i, value in enumerate(values)]
    documents = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            documents.append(_Document(f"line {number}", json.loads(line)))
        except json.JSONDecodeError as error:
            raise CliError(f"{name}: line {number} is not valid JSON ({error.msg})") from None
    return documents


def _push(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    if args.file == "-":
        documents = read_documents(sys.stdin, "stdin")
    else:
        path = Path(args.file)
        if not path.is_file():
            raise CliError(f"{args.file}: no such file")
        with path.open(encoding="utf-8") as handle:
            documents = read_documents(handle, args.file)
    problems = [(doc.where, *problem) for doc in documents if (problem := product_problem(doc.value))]
    for where, field, reason in problems:
        print(f"{args.file}: {where}: {field}: {reason}", file=sys.stderr)
    if problems:
        raise CliError(f"{len(problems)} of {len(documents)} documents are invalid; nothing was sent")
    if args.dry_run:
        print(f"{len(documents)} documents are valid; nothing was sent (--dry-run)")
        return 0

    products = [doc.value for doc in documents]
    sent = accepted = failed = 0
    errors: list[str] = []
    started = time.monotonic()
    with _client(args) as client, tqdm(total=len(products), unit="product", file=sys.stderr) as bar:
        for chunk in plan_requests(products, args.request_bytes):
            sent += len(chunk)
            try:
                client.sync_all(chunk)
                accepted += len(chunk)
            except SyncError as error:
                failed += len(chunk)
                errors.append(str(error))
                if "401" in str(error) or "cannot reach" in str(error):
                    break  # every later request would fail the same way
            bar.update(len(chunk))
    elapsed = time.monotonic() - started
    print(
        f"sent {sent}, accepted {accepted}, failed {failed + len(products) - sent} "
        f"of {len(products)} products in {elapsed:.1f} s"
    )
    if errors:
        raise CliError(
            errors[0] + (f" (and {len(errors) - 1} more failed requests)" if len(errors) > 1 else "")
        )
    return 0


def _export(args: argparse.Namespace) -> int:
    with _client(args) as client:
        products = list(client.export_products())
    text = "".join(json.dumps(product, ensure_ascii=False) + "\n" for product in products)
    if args.file == "-":
        sys.stdout.write(text)
    else:
        Path(args.file).write_text(text, encoding="utf-8")
        print(f"exported {len(products)} products to {args.file}")
    return 0


def _status(args: argparse.Namespace) -> int:
    with _client(args) as client:
        health = client.health()
        failed = client.list_failed()
    print(f"{args.url}: {health.get('status')} — {health.get('products_cached')} products")
    if failed:
        print(f"{len(failed)} message(s) wait in the dead-letter store: run `qrsync failed list`")
        return 2
    print("dead-letter store: empty")
    return 0


def _failed_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        failed = client.list_failed()
    for item in failed:
        print(
            f"{item['id']}  {item.get('failed_at')}  {item.get('source')}  {item.get('keys')} keys "
            f"(first {item.get('first_key')!r})  attempts {item.get('attempts')}  {item.get('error')}"
        )
    print(f"{len(failed)} dead letter(s)")
    return 0


def _failed_replay(args: argparse.Namespace) -> int:
    with _client(args) as client:
        replayed, expired = client.replay_failed(args.ids or None)
    print(f"replayed {replayed} dead letter(s); they are back on the sync queue")
    if expired:
        raise CliError(
            f"{len(expired)} dead letter(s) are older than the delete horizon and were kept: "
            "re-push those products from the catalogue (`qrsync failed list` shows them)"
        )
    return 0

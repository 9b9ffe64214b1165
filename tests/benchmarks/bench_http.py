"""HTTP benchmark of a running service on loopback (not a test; timings never decide one).

    rag serve &                                   # or: --start, to launch one here
    python -m tests.benchmarks.bench_http [--url http://127.0.0.1:8000] [--api-key KEY]

/v1/search: throughput and p50/p95 latency at 1, 8 and 32 concurrent clients, twice:
users' repeated questions (answered from the service's search cache after the first
time), then questions never asked before (each request differs: full retrieval).
/v1/ask: p50/p95 one at a time, then a burst larger than the model's queue: how many
were answered, how many got 429 (and the Retry-After they were told).
Every loop is bounded in requests and in seconds. Target on 2 cores: search >= 200 req/s
with p95 < 100 ms. The search loops use a lean keep-alive client by default (`--client
httpx` for httpx, which costs the shared cores several times more per request).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from urllib.parse import urlparse

import httpx

QUESTIONS = [
    "How many prisoners did each side agree to swap?",
    "Who headed the Russian delegation?",
    "Where did the talks take place?",
    "What did Russia demand from Ukraine?",
    "How long did the talks last?",
    "What did Zelensky say about the meeting?",
    "prisoner exchange",
    "ceasefire proposal",
]


@dataclass
class Result:
    name: str
    concurrency: int
    requests: int = 0
    ok: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    rps: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    max_ms: float = 0.0
    retry_after: list[int] = field(default_factory=list)

    def line(self) -> str:
        codes = " ".join(f"{k}:{v}" for k, v in sorted(self.statuses.items()))
        extra = f"  retry-after {sorted(set(self.retry_after))}" if self.retry_after else ""
        return (f"{self.name:<15} c={self.concurrency:<3} n={self.requests:<5} {self.rps:8.2f} req/s  "
                f"p50 {self.p50_ms:8.1f} ms  p95 {self.p95_ms:8.1f} ms  max {self.max_ms:8.1f} ms  [{codes}]{extra}")  # fmt: skip


@dataclass
class _Reply:
    status_code: int
    headers: dict[str, str]
    body: bytes


class LeanClient:
    """A minimal HTTP/1.1 keep-alive client for the search loops. The load generator shares
    the two cores with the service, and httpx spends several times more CPU per request
    than this (or `ab`) does: with httpx the figures measure the client as much as the
    service. Enough HTTP for this service's JSON replies (Content-Length or chunked)."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parsed = urlparse(url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, path: str, json: dict) -> _Reply:  # noqa: A002 - httpx's keyword
        conn = self.idle.pop() if self.idle else await asyncio.open_connection(self.host, self.port)
        reader, writer = conn
        body = _encode(json)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{self.extra}\r\n"
        )
        writer.write(head.encode() + body)
        try:
            status = int((await reader.readline()).split(b" ", 2)[1])
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            if headers.get("transfer-encoding") == "chunked":
                data = b""
                while size := int((await reader.readline()).strip(), 16):
                    data += await reader.readexactly(size + 2)
                await reader.readline()
            else:
                data = await reader.readexactly(int(headers.get("content-length", "0")))
        except (ValueError, IndexError, asyncio.IncompleteReadError) as e:
            writer.close()
            raise httpx.RemoteProtocolError(f"bad reply: {e}") from e
        if headers.get("connection") == "close":
            writer.close()
        else:
            self.idle.append(conn)
        return _Reply(status, {k.title(): v for k, v in headers.items()}, data)

    async def aclose(self) -> None:
        """Close the idle connections (the server drops them after its keep-alive timeout)."""
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


def _encode(payload: dict) -> bytes:
    return json.dumps(payload).encode()


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def _run(client: httpx.AsyncClient | LeanClient, name: str, path: str, body, concurrency: int, total: int, max_s: float) -> Result:
    """`total` requests from `concurrency` clients, stopping early after `max_s` seconds."""
    result = Result(name, concurrency)
    latencies: list[float] = []
    counter = iter(range(total))
    deadline = time.perf_counter() + max_s

    async def worker() -> None:
        for i in counter:
            if time.perf_counter() > deadline:
                return
            started = time.perf_counter()
            try:
                r = await client.post(path, json=body(i))
                code = str(r.status_code)
                if r.status_code == 429 and r.headers.get("Retry-After", "").isdigit():
                    result.retry_after.append(int(r.headers["Retry-After"]))
            except (httpx.HTTPError, OSError) as e:
                code = type(e).__name__
            elapsed = time.perf_counter() - started
            result.requests += 1
            result.statuses[code] = result.statuses.get(code, 0) + 1
            if code == "200":
                result.ok += 1
                latencies.append(elapsed * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.seconds = round(time.perf_counter() - started, 2)
    result.rps = round(result.ok / result.seconds, 2) if result.seconds else 0.0
    result.p50_ms = round(statistics.median(latencies), 1) if latencies else 0.0
    result.p95_ms = round(_percentile(latencies, 0.95), 1)
    result.max_ms = round(max(latencies), 1) if latencies else 0.0
    return result


async def bench(args: argparse.Namespace) -> list[Result]:
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    results: list[Result] = []
    async with httpx.AsyncClient(base_url=args.url, headers=headers, timeout=args.timeout, limits=limits) as client:
        ready = (await client.get("/readyz")).json()
        print(f"service {args.url}: {ready}", file=sys.stderr)

        def search_body(i: int) -> dict:
            return {"question": QUESTIONS[i % len(QUESTIONS)], "k": 4}

        fresh = iter(range(10**9))

        def new_search_body(i: int) -> dict:  # never the same question twice in a run
            n = next(fresh)
            return {"question": f"{QUESTIONS[n % len(QUESTIONS)]} ({n})", "k": 4}

        searcher = LeanClient(args.url, headers) if args.client == "lean" else client
        print(f"search client: {args.client}", file=sys.stderr)
        await _run(searcher, "warm-up", "/v1/search", search_body, 4, 20, 30)
        for name, body in (("/v1/search", search_body), ("/v1/search new", new_search_body)):
            for c in args.search_concurrency:
                r = await _run(searcher, name, "/v1/search", body, c, args.search_requests, args.max_seconds)
                results.append(r)
                print(r.line(), flush=True)
                if isinstance(searcher, LeanClient):
                    await searcher.aclose()  # each level opens its own connections

        if args.ask_requests:

            def ask_body(i: int) -> dict:
                return {"question": QUESTIONS[i % 6]}

            r = await _run(client, "/v1/ask", "/v1/ask", ask_body, 1, args.ask_requests, args.max_ask_seconds)
            results.append(r)
            print(r.line(), flush=True)
        if args.ask_burst:
            r = await _run(client, "/v1/ask burst", "/v1/ask", ask_body, args.ask_burst, args.ask_burst, args.max_ask_seconds)
            results.append(r)
            print(r.line(), flush=True)
        metrics = (await client.get("/metrics")).text
        for line in metrics.splitlines():
            if line.startswith(("rag_llm_rejected_total", "rag_llm_prompt_tokens_total", "rag_llm_completion_tokens_total")):
                print("  " + line, file=sys.stderr)
    return results


def _loopback_only(url: str) -> None:
    host = urlparse(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        sys.exit(f"refusing {url}: this benchmark only targets a service on loopback (127.0.0.1, localhost, ::1).")


def _start_service() -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port), "--log-level", "warning"])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("the service exited during start-up")
        try:
            if httpx.get(url + "/readyz", timeout=5).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(1)
    proc.terminate()
    sys.exit("the service was not ready in 15 minutes")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m tests.benchmarks.bench_http", description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--api-key", default=os.environ.get("RAG_BENCH_API_KEY"), help="or RAG_BENCH_API_KEY")
    p.add_argument("--start", action="store_true", help="start `rag serve` on a free loopback port for the run")
    p.add_argument("--search-concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8, 32])
    p.add_argument("--search-requests", type=int, default=400, help="per concurrency level")
    p.add_argument("--client", choices=["lean", "httpx"], default="lean", help="HTTP client of the search loops")
    p.add_argument("--max-seconds", type=float, default=30, help="cap per search level")
    p.add_argument("--ask-requests", type=int, default=4, help="sequential /v1/ask (0: none)")
    p.add_argument("--ask-burst", type=int, default=8, help="simultaneous /v1/ask, beyond the queue (0: none)")
    p.add_argument("--max-ask-seconds", type=float, default=300)
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args(argv)
    proc = None
    if args.start:
        proc, args.url = _start_service()
    _loopback_only(args.url)
    try:
        results = asyncio.run(bench(args))
    finally:
        if proc:
            proc.terminate()
            proc.wait(timeout=30)
    if args.json:
        with open(args.json, "w") as f:
            json.dump([asdict(r) for r in results], f, indent=2)


if __name__ == "__main__":
    main()

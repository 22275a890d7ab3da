#!/usr/bin/env python3
"""Benchmarks a running `keel serve` the way a client sees it: through its HTTP API.

Runs the fan-out example's orchestrators (module built from guest-examples/fan-out/rust): chains of
`Sequence` steps, `FanOut` fan-outs and many short chains started at once. Each instance is started
with POST /api/orchestrators/{name} and polled with GET /api/instances/{id} until it has ended.

Reported per workload (median of --repeat runs):
  server-side: completion minus creation as the engine recorded them (the instance's `updatedAt` once
               it is Completed, minus its `createdAt`); for many instances, first creation to last
               completion;
  client:      wall time from the first start request to seeing the last instance Completed (includes
               HTTP round trips and the polling interval).

Exit status: 0 on success, 1 if an instance fails or does not finish in time, 2 if the server cannot
be reached or refuses the token.
"""

import argparse
import json
import os
import statistics
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

TERMINAL = {"Completed", "Failed", "Terminated"}


class Unusable(Exception):
    """The server cannot be used at all (unreachable, token refused): exit 2."""


class BenchFailed(Exception):
    """A workload did not complete: exit 1."""


class Client:
    def __init__(self, server, token, timeout=60.0):
        self.server = server.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(self, method, path, body=None, content_type="application/json"):
        """Returns (status, parsed JSON body); retries 503 `overloaded` after its Retry-After."""
        url = self.server + path
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        for _ in range(60):
            req = urllib.request.Request(url, data=data, method=method)
            req.add_header("Authorization", f"Bearer {self.token}")
            if data is not None:
                req.add_header("Content-Type", content_type)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return resp.status, _json(resp.read())
            except urllib.error.HTTPError as e:
                payload = _json(e.read())
                if e.code == 503 and isinstance(payload, dict) and payload.get("code") == "overloaded":
                    time.sleep(float(e.headers.get("Retry-After") or 1))
                    continue
                if e.code == 401:
                    raise Unusable(f"{self.server} refused the token (HTTP 401): "
                                   "pass the server's token with --token or KEEL_API_TOKEN") from None
                message = payload.get("message") if isinstance(payload, dict) else payload
                raise BenchFailed(f"{method} {path}: HTTP {e.code}: {message}") from None
            except (urllib.error.URLError, OSError) as e:
                reason = getattr(e, "reason", e)
                raise Unusable(f"cannot reach keel serve at {self.server}: {reason}") from None
        raise BenchFailed(f"{method} {path}: the server stayed overloaded")

    def start(self, orchestrator, payload):
        _, body = self.request("POST", f"/api/orchestrators/{_quote(orchestrator)}", payload)
        return body["id"]

    def instance(self, instance_id):
        return self.request("GET", f"/api/instances/{_quote(instance_id)}")[1]

    def purge(self, instance_id):
        self.request("DELETE", f"/api/instances/{_quote(instance_id)}")


def _json(raw):
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")


def _quote(segment):
    return urllib.parse.quote(segment, safe="")


def wait_all(client, ids, deadline, pool):
    """Polls until every instance has ended; returns their final JSON and when the last was seen."""
    pending, done, interval = list(ids), {}, 0.005
    while pending:
        for inst in pool.map(client.instance, pending):
            if inst["status"] in TERMINAL:
                done[inst["id"]] = inst
        seen = time.monotonic()
        pending = [i for i in pending if i not in done]
        failed = [i for i in done.values() if i["status"] != "Completed"]
        if failed:
            inst = failed[0]
            raise BenchFailed(f"instance {inst['id']} ended {inst['status']}: "
                              f"{json.dumps(inst.get('failure'))}")
        if pending and seen > deadline:
            inst = client.instance(pending[0])
            raise BenchFailed(f"{len(pending)} instance(s) not finished in time; {inst['id']} is "
                              f"{inst['status']} (history {inst.get('historyLen')} events"
                              f"{', parked: ' + inst['parked'] if inst.get('parked') else ''})")
        if pending:
            time.sleep(interval)
            interval = min(interval * 2, 0.05)
    return [done[i] for i in ids], seen


def run_once(client, orchestrator, payload, instances, timeout, pool):
    """Starts `instances` instances at once; returns (server-side s, client s)."""
    t0 = time.monotonic()
    ids = list(pool.map(lambda _: client.start(orchestrator, payload), range(instances)))
    finished, t1 = wait_all(client, ids, t0 + timeout, pool)
    server = (max(i["updatedAt"] for i in finished) - min(i["createdAt"] for i in finished)) / 1000
    for instance_id in ids:
        client.purge(instance_id)
    return server, t1 - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="http://127.0.0.1:8080", help="keel serve's base URL")
    parser.add_argument("--token", default=os.environ.get("KEEL_API_TOKEN"),
                        help="bearer token (default: $KEEL_API_TOKEN)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per workload (median reported)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds a run may take")
    parser.add_argument("--deploy", metavar="PATH.wasm", help="deploy this module first")
    args = parser.parse_args()
    if not args.token:
        print("bench_http: no token: pass --token or set KEEL_API_TOKEN", file=sys.stderr)
        return 2
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    chain, fan, many = (10, 100), (10, 100), 20
    if not args.quick:
        chain, fan, many = (100, 1000), (100, 1000), 200
    # (label, orchestrator, input, instances, steps per instance, unit)
    workloads = [(f"chain of {n:,}", "Sequence", {"steps": n}, 1, n, "steps") for n in chain]
    workloads += [(f"fan-out of {n:,}", "FanOut", {"count": n}, 1, n, "activities") for n in fan]
    workloads.append((f"{many} x chain of 10", "Sequence", {"steps": 10}, many, 10, "steps"))

    client = Client(args.server, args.token)
    try:
        # Check the token before uploading: a refused upload shows as a broken pipe, not as the 401.
        client.request("GET", "/api/stats")
        if args.deploy:
            try:
                with open(args.deploy, "rb") as f:
                    wasm = f.read()
            except OSError as e:
                raise Unusable(f"cannot read the module to deploy: {e}") from None
            _, deployed = client.request("POST", "/api/modules", wasm, "application/wasm")
            print(f"deployed {args.deploy} as version {deployed['version']}", file=sys.stderr)
        _, listing = client.request("GET", "/api/modules")
        names = {f["name"] for f in listing["functions"] if f.get("kind") == "orchestrator"}
        missing = {"Sequence", "FanOut"} - names
        if missing:
            raise BenchFailed(f"orchestrator(s) {', '.join(sorted(missing))} not deployed: build "
                              "guest-examples/fan-out/rust and pass --deploy PATH.wasm")
        rows = []
        with ThreadPoolExecutor(max_workers=16) as pool:
            for label, orchestrator, payload, instances, steps, unit in workloads:
                runs = []
                for r in range(args.repeat):
                    runs.append(run_once(client, orchestrator, payload, instances, args.timeout, pool))
                    print(f"{label}, run {r + 1}: server {runs[-1][0]:.3f} s, "
                          f"client {runs[-1][1]:.3f} s", file=sys.stderr)
                server = statistics.median(s for s, _ in runs)
                wall = statistics.median(c for _, c in runs)
                rate = instances * steps / server if server > 0 else float("inf")
                rows.append((label, f"{server:.3f}", f"{wall:.3f}", f"{rate:,.0f} {unit}/s",
                             str(len(runs))))
    except Unusable as e:
        print(f"bench_http: {e}", file=sys.stderr)
        return 2
    except BenchFailed as e:
        print(f"bench_http: FAILED: {e}", file=sys.stderr)
        return 1

    header = ("workload", "server-side s", "client s", "throughput (server-side)", "runs")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    line = lambda row: "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |"
    print(f"keel serve at {args.server}, median of {args.repeat} run(s)")
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line(row))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)

#!/usr/bin/env python3
"""The benchmark's reference client: the same writes as the zk-chaos workload, through kazoo.

WORKERS threads, each with its own session to the whole ensemble (kazoo picks a member at
random, as the Rust client does), create persistent sequential znodes
PREFIX/w<n>/op-<seq> with values of VALUE_SIZE bytes, taking writes from one shared budget of
WRITES, one at a time per session (no pipelining), like the workload's workers. Sessions and
folders are set up before the clock starts. Prints one JSON line.
"""
import argparse
import json
import sys
import threading
import time

import kazoo.version
from kazoo.client import KazooClient


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", required=True, help="host:port,host:port,...")
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--writes", type=int, default=5000)
    ap.add_argument("--value-size", type=int, default=32)
    ap.add_argument("--session-timeout", type=float, default=10.0)
    ap.add_argument("--timeout", type=float, default=15.0, help="connect timeout, seconds")
    a = ap.parse_args()

    clients = []
    for n in range(a.workers):
        zk = KazooClient(hosts=a.hosts, timeout=a.session_timeout)
        zk.start(timeout=a.timeout)
        zk.ensure_path(f"{a.prefix}/w{n}")
        clients.append(zk)

    lock = threading.Lock()
    budget = [a.writes]
    acked = [0]
    failed = [0]
    last_done = [0.0]
    go = threading.Barrier(a.workers + 1)

    def worker(n, zk):
        folder = f"{a.prefix}/w{n}"
        k = 0
        go.wait()
        while True:
            with lock:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
            value = f"w{n}-{k:06}".ljust(a.value_size, ".").encode()
            k += 1
            try:
                zk.create(folder + "/op-", value, sequence=True)
                ok = True
            except Exception as e:  # noqa: BLE001 - counted, reported
                print(f"w{n}: {e!r}", file=sys.stderr)
                ok = False
            done = time.monotonic()
            with lock:
                if ok:
                    acked[0] += 1
                else:
                    failed[0] += 1
                last_done[0] = max(last_done[0], done)

    threads = [threading.Thread(target=worker, args=(n, zk)) for n, zk in enumerate(clients)]
    for t in threads:
        t.start()
    go.wait()
    start = time.monotonic()
    for t in threads:
        t.join()
    seconds = last_done[0] - start if last_done[0] > start else 0.0
    for zk in clients:
        zk.stop()
        zk.close()
    print(json.dumps({
        "client": "kazoo " + kazoo.version.__version__,
        "workers": a.workers,
        "writes": a.writes,
        "value_size": a.value_size,
        "acknowledged": acked[0],
        "failed": failed[0],
        "seconds": seconds,
        "writes_per_second": acked[0] / seconds if seconds > 0 else 0.0,
    }))


if __name__ == "__main__":
    main()

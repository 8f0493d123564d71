#!/usr/bin/env python3
"""The benchmark's reference for the data volume (--data): the same layout written and read back
through kazoo, requests pipelined as zk-chaos pipelines them.

Under PREFIX: SUBTREES folders s00.. of SMALL-byte znodes n0000000.., spread evenly, and a folder
`large` of LARGE-byte znodes, as many as zk-chaos writes for the same size (the counts are given on
the command line by the benchmark, from zk-chaos's own plan). Writes keep WINDOW requests in flight
on one session (kazoo's *_async calls), as zk-chaos does; the content is os.urandom (zk-chaos draws
it from a seeded generator: both are produced inside the timed loop). The read pass lists each
folder, reads every znode with the same window, and hashes names and data with SHA-256 per folder,
as zk-chaos's digest pass does. Prints one JSON line.
"""
import argparse
import hashlib
import json
import os
import time

import kazoo.version
from kazoo.client import KazooClient


def pipelined(calls, window):
    """Runs the zero-argument async calls with at most WINDOW in flight; yields results in order."""
    pending = []
    for call in calls:
        pending.append(call())
        if len(pending) >= window:
            yield pending.pop(0).get(timeout=60)
    for p in pending:
        yield p.get(timeout=60)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", required=True, help="host:port of the member written and read through")
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--small", type=int, required=True, help="small znodes in all")
    ap.add_argument("--large", type=int, required=True, help="large znodes")
    ap.add_argument("--small-size", type=int, default=1024)
    ap.add_argument("--large-size", type=int, default=1_040_000)
    ap.add_argument("--subtrees", type=int, default=16)
    ap.add_argument("--window", type=int, default=256)
    ap.add_argument("--large-window", type=int, default=8)
    a = ap.parse_args()

    zk = KazooClient(hosts=a.hosts, timeout=10.0)
    zk.start(timeout=15)
    folders = [(f"s{i:02}", a.small // a.subtrees + (1 if i < a.small % a.subtrees else 0), a.small_size, a.window) for i in range(a.subtrees)]
    if a.large:
        folders.append(("large", a.large, a.large_size, a.large_window))

    zk.ensure_path(a.prefix)
    start = time.monotonic()
    written = 0
    for name, count, size, window in folders:
        folder = f"{a.prefix}/{name}"
        zk.create(folder, b"")
        calls = (lambda n=n: zk.create_async(f"{folder}/n{n:07}", os.urandom(size)) for n in range(count))
        for _ in pipelined(calls, window):
            written += size
    write_s = time.monotonic() - start

    start = time.monotonic()
    read = 0
    for name, _count, _size, window in folders:
        folder = f"{a.prefix}/{name}"
        h = hashlib.sha256()
        children = sorted(zk.get_children(folder))
        calls = (lambda c=c: zk.get_async(f"{folder}/{c}") for c in children)
        for c, (data, _stat) in zip(children, pipelined(calls, window)):
            h.update(len(c).to_bytes(4, "big") + c.encode() + len(data).to_bytes(8, "big"))
            h.update(data)
            read += len(data)
        h.hexdigest()
    read_s = time.monotonic() - start
    zk.stop()
    zk.close()
    print(json.dumps({
        "client": "kazoo " + kazoo.version.__version__,
        "bytes_written": written,
        "write_seconds": write_s,
        "write_mb_per_s": written / 1e6 / write_s,
        "bytes_read": read,
        "read_seconds": read_s,
        "read_mb_per_s": read / 1e6 / read_s,
    }))


if __name__ == "__main__":
    main()

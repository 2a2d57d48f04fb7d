#!/usr/bin/env python3
"""Holds many idle HTTP/1.1 keep-alive client connections open, for bench/run.sh.

usage: hold_idle.py PORT COUNT RELEASE_FILE [MAX_HOLD_SECONDS]

Opens COUNT connections to 127.0.0.1:PORT, at most 256 connecting at a time, and sends one
GET on each, reading its whole response, so that the proxy has served a request on every
connection (and, for an L7 proxy, used a target connection) before they go idle. Then it
prints one line

    held OK FAILED

and keeps every connection open and silent until RELEASE_FILE exists (the caller measures
the proxy's memory meanwhile), or MAX_HOLD_SECONDS (default 120) have passed. Then it closes
them all, waits a moment for the closes to be sent, and prints `closed`. Every step has a
time limit, so the script always ends.
"""

import asyncio
import os
import sys
import time

OPENERS = 256
STEP_TIMEOUT = 15.0
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: hold_idle\r\n\r\n"


async def open_one(port):
    """One connection that has completed one request, or an exception."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port), STEP_TIMEOUT
    )
    writer.write(REQUEST)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), STEP_TIMEOUT)
    status = head.split(b"\r\n", 1)[0]
    if b" 200 " not in status + b" ":
        writer.close()
        raise RuntimeError(f"unexpected status line {status!r}")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await asyncio.wait_for(reader.readexactly(length), STEP_TIMEOUT)
    return writer


async def opener(port, todo, held, failures):
    """Opens connections while some remain to be opened."""
    while todo[0] > 0:
        todo[0] -= 1
        try:
            held.append(await open_one(port))
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, RuntimeError, ValueError) as error:
            failures.append(error)


async def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    port, count, release = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    max_hold = float(sys.argv[4]) if len(sys.argv) == 5 else 120.0

    todo, held, failures = [count], [], []
    await asyncio.gather(*(opener(port, todo, held, failures) for _ in range(min(OPENERS, count))))
    print(f"held {len(held)} {len(failures)}", flush=True)
    if failures:
        print(f"first failure: {failures[0]!r}", file=sys.stderr)

    deadline = time.monotonic() + max_hold
    while not os.path.exists(release) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)

    for writer in held:
        writer.close()
    await asyncio.sleep(1.0)
    print("closed", flush=True)


if __name__ == "__main__":
    asyncio.run(main())

#!/usr/bin/env python3
"""UDP flows through a proxy at scale, for bench/udp-flows.sh.

usage: udp_flows.py PROXY_PID PORT FLOWS ROUNDS

Opens FLOWS flows to 127.0.0.1:PORT, one client socket each (bound to 127.0.0.2-201 on ports
10000 and up, outside the kernel's ephemeral range the proxy's own flow sockets take), sends
one 64-byte datagram per flow and waits for its echo, then ROUNDS more rounds of the same over
every flow. At most 64 datagrams are in flight at once, so no socket buffer overflows. Prints
one line

    FLOWS OPENED_REPLIES RSS_KIB_PER_FLOW CPU_US_PER_NEW_FLOW PAIRS_REPLIED CPU_US_PER_PAIR

from the proxy's /proc/PID (RSS before and after the flows were opened, user + system CPU).
Every wait is bounded (10 s per batch), so the script always ends.
"""

import os
import select
import socket
import sys
import time

BATCH = 64
PAYLOAD = b"x" * 64


def main():
    pid, port, flows, rounds = (int(a) for a in sys.argv[1:5])
    tick = os.sysconf("SC_CLK_TCK")

    def cpu():
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    def rss_kib():
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS"):
                return int(line.split()[1])
        return 0

    poller = select.epoll()
    sockets, by_fd = [], {}

    def round_trip():
        replied = 0
        for start in range(0, len(sockets), BATCH):
            part = sockets[start:start + BATCH]
            for s in part:
                s.send(PAYLOAD)
            seen, deadline = 0, time.time() + 10
            while seen < len(part) and time.time() < deadline:
                for fd, _ in poller.poll(1):
                    try:
                        while True:
                            by_fd[fd].recv(2048)
                            seen += 1
                    except BlockingIOError:
                        pass
            replied += seen
        return replied

    rss0, cpu0 = rss_kib(), cpu()
    for i in range(flows):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((f"127.0.0.{2 + i % 200}", 10000 + i // 200))
        s.connect(("127.0.0.1", port))
        s.setblocking(False)
        sockets.append(s)
        by_fd[s.fileno()] = s
        poller.register(s.fileno(), select.EPOLLIN)
    opened = round_trip()
    rss1, cpu1 = rss_kib(), cpu()
    pairs = sum(round_trip() for _ in range(rounds))
    cpu2 = cpu()
    print(
        flows,
        opened,
        f"{(rss1 - rss0) / flows:.2f}",
        f"{1e6 * (cpu1 - cpu0) / flows:.1f}",
        pairs,
        f"{1e6 * (cpu2 - cpu1) / max(pairs, 1):.2f}",
    )


if __name__ == "__main__":
    main()

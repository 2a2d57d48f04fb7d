#!/usr/bin/env python3
"""A UDP echo server on 127.0.0.1:PORT, for bench/udp-flows.sh. usage: udp_echo.py PORT"""

import socket
import sys

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(data, peer)

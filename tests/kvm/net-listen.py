#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# The host side of t-net's "nothing reaches the loopback" checks: listens
# until killed, and writes one line to LOG for everything that arrives.
#
#   net-listen.py LOG TCPPORT... [udp UDPPORT...]
#
# TCP on 0.0.0.0 and [::] (IPv6 only) at every TCPPORT: "tcp PORT PEER"
# per connection. UDP on 127.0.0.1 at every UDPPORT: "udp PORT PEER DATA".
# "ready" on stdout once every socket listens. Inside net-inner.sh's
# namespace only, where these addresses are the namespace's own.
import selectors
import socket
import sys

log = open(sys.argv[1], "a", buffering=1)
tcp, udp = [], []
ports = tcp
for a in sys.argv[2:]:
    if a == "udp":
        ports = udp
    else:
        ports.append(int(a))

sel = selectors.DefaultSelector()
for port in tcp:
    for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((addr, port))
        s.listen(16)
        sel.register(s, selectors.EVENT_READ, ("tcp", port))
for port in udp:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    sel.register(s, selectors.EVENT_READ, ("udp", port))
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        kind, port = key.data
        if kind == "tcp":
            c, peer = key.fileobj.accept()
            log.write("tcp %d %s\n" % (port, peer[0]))
            c.close()
        else:
            data, peer = key.fileobj.recvfrom(2048)
            log.write("udp %d %s:%d %r\n" % (port, peer[0], peer[1], data))

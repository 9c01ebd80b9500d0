#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A DNS responder for the network tests: UDP on ADDR:PORT, A records from
NAME=IP arguments, NXDOMAIN for other names, an empty answer for other
types. Each query is logged to LOG as "NAME TYPE". Prints "ready" once it
listens.

    dnsd.py ADDR PORT LOG NAME=IP...
"""
import socket
import struct
import sys


def qname(msg, off):
    labels = []
    while True:
        n = msg[off]
        off += 1
        if n == 0:
            return ".".join(labels).lower(), off
        if n & 0xC0:
            raise ValueError("compressed name in a question")
        labels.append(msg[off:off + n].decode("ascii", "replace"))
        off += n


def answer(msg, records):
    ident, flags, qd = struct.unpack("!HHH", msg[:6])
    if qd != 1:
        return None, None
    name, off = qname(msg, 12)
    qtype, qclass = struct.unpack("!HH", msg[off:off + 4])
    question = msg[12:off + 4]
    rd = flags & 0x0100
    ip = records.get(name)
    if ip is None:
        return struct.pack("!HHHHHH", ident, 0x8180 | rd | 3, 1, 0, 0, 0) + question, (name, qtype)
    if qtype != 1:
        return struct.pack("!HHHHHH", ident, 0x8180 | rd, 1, 0, 0, 0) + question, (name, qtype)
    rr = struct.pack("!HHHLH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(ip)
    return struct.pack("!HHHHHH", ident, 0x8180 | rd, 1, 1, 0, 0) + question + rr, (name, qtype)


def main():
    addr, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    records = dict(a.lower().split("=", 1) for a in sys.argv[4:])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    print("ready", flush=True)
    with open(log, "a") as out:
        while True:
            msg, peer = s.recvfrom(4096)
            try:
                reply, q = answer(msg, records)
            except (ValueError, IndexError, struct.error):
                continue
            if reply:
                out.write("%s %d\n" % q)
                out.flush()
                s.sendto(reply, peer)


if __name__ == "__main__":
    main()

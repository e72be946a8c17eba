#!/usr/bin/env python3
"""raw_client.py - one long-lived connection to pgmld's Unix socket that
Pings before and after an event, to prove the connection survives it (used
by test_operator.sh across a SIGHUP reload).  It speaks the wire by hand
(docs/protocol.md: a 4-byte big-endian length, then a Frame), so it needs
nothing but Python.

Usage: raw_client.py SOCKET READY_FILE GO_FILE
  Pings with data "before", then creates READY_FILE and waits for GO_FILE
  to exist, checking that pgmld sends nothing meanwhile, then Pings with
  data "after" on the same connection.  Exit 0 when both Pings answered OK
  with their data; 1 with the reason otherwise."""
import os
import select
import socket
import struct
import sys
import time


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(num, wire, value):
    if wire == 0:
        return varint(num << 3) + varint(value)
    return varint(num << 3 | 2) + varint(len(value)) + value


def parse(buf):
    """{field number: value} of a protobuf message (varints and bytes only)."""
    out, i = {}, 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            out[num], i = read_varint(buf, i)
        elif wire == 2:
            n, i = read_varint(buf, i)
            out[num], i = buf[i:i + n], i + n
        else:
            raise ValueError("unexpected wire type %d in field %d" % (wire, num))
    return out


def read_varint(buf, i):
    shift = n = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("pgmld closed the connection")
        data += chunk
    return data


def ping(sock, call_id, data):
    payload = field(1, 2, data)                              # PingRequest.data
    frame = (field(1, 0, call_id) + field(3, 2, b"pgml.v1.Database/Ping")
             + field(4, 2, payload) + field(8, 0, 10000))
    sock.sendall(struct.pack(">I", len(frame)) + frame)
    (n,) = struct.unpack(">I", recv_exact(sock, 4))
    f = parse(recv_exact(sock, n))
    if f.get(1, 0) != call_id or f.get(2, 0) != 1:
        raise ValueError("answer is not the RESPONSE to id %d: %r" % (call_id, f))
    if f.get(5, 0) != 0:
        raise ValueError("Ping failed with code %d: %s" % (f[5], f.get(6, b"").decode()))
    echoed = parse(f.get(4, b"")).get(1, b"")
    if echoed != data:
        raise ValueError("Ping echoed %r, sent %r" % (echoed, data))


def main():
    path, ready, go = sys.argv[1:4]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    try:
        ping(sock, 1, b"before")
        open(ready, "w").close()
        deadline = time.monotonic() + 120
        while not os.path.exists(go):
            if time.monotonic() > deadline:
                raise TimeoutError("%s did not appear within 120 s" % go)
            r, _, _ = select.select([sock], [], [], 0.1)
            if r:
                # Anything now (an UNAVAILABLE on id 0, or EOF) means the
                # connection is being dropped.
                got = sock.recv(4096)
                raise ConnectionError("pgmld sent %r while the connection was idle" % got
                                      if got else "pgmld closed the idle connection")
        ping(sock, 2, b"after")
    except (OSError, ValueError) as e:
        print("raw_client: %s" % e, file=sys.stderr)
        return 1
    print("raw_client: one connection, Ping before and after: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())

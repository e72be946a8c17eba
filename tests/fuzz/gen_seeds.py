#!/usr/bin/env python3
"""gen_seeds.py - writes the committed seed corpora of the fuzz targets.

corpus/envelope/: byte 0 is the read size the fuzz target feeds the stream
in (value + 1 bytes), then length-prefixed pgml.v1.Frame messages, encoded
here by hand from frame.proto's field numbers (no protobuf package needed).
corpus/filter/: filter JSON texts.  corpus/splitter/: a 4-byte spec header
(splitter, chunk_size, overlap, separators flag) then text.

Run from anywhere: python3 tests/fuzz/gen_seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def field_varint(num, v):
    return varint(num << 3) + varint(v)


def field_bytes(num, b):
    if isinstance(b, str):
        b = b.encode()
    return varint((num << 3) | 2) + varint(len(b)) + b


def frame(id=0, kind=0, method=None, payload=None, timeout_ms=0, metadata=()):
    out = b""
    if id:
        out += field_varint(1, id)
    if kind:
        out += field_varint(2, kind)
    if method is not None:
        out += field_bytes(3, method)
    if payload:
        out += field_bytes(4, payload)
    if timeout_ms:
        out += field_varint(8, timeout_ms)
    for k, v in metadata:
        out += field_bytes(9, field_bytes(1, k) + field_bytes(2, v))
    return out


def prefixed(body):
    return struct.pack(">I", len(body)) + body


REQUEST, RESPONSE, CANCEL = 0, 1, 2
DB = "pgml.v1.Database/"
ping_payload = field_bytes(1, "hi")

envelope = {
    "ping_whole": bytes([255]) + prefixed(frame(1, REQUEST, DB + "Ping", ping_payload, 1000)),
    "ping_bytewise": bytes([0]) + prefixed(frame(1, REQUEST, DB + "Ping", ping_payload, 1000)),
    "server_info": bytes([63]) + prefixed(frame(2, REQUEST, DB + "ServerInfo")),
    "list_collections": bytes([7]) + prefixed(frame(3, REQUEST, DB + "ListCollections")),
    "pipelined_with_cancel": bytes([31])
    + prefixed(frame(4, REQUEST, DB + "Ping", ping_payload))
    + prefixed(frame(5, REQUEST, DB + "ListCollections", b"", 5))
    + prefixed(frame(5, CANCEL))
    + prefixed(frame(6, REQUEST, DB + "Ping")),
    "metadata": bytes([255])
    + prefixed(frame(7, REQUEST, DB + "Ping", ping_payload, 0,
                     [("authorization", "Bearer t"), ("trace", "1")])),
    "zero_length": bytes([3]) + prefixed(b"") + prefixed(frame(8, REQUEST, DB + "Ping")),
    "unknown_method": bytes([255]) + prefixed(frame(9, REQUEST, DB + "Nope")),
    "response_from_client": bytes([255]) + prefixed(frame(10, RESPONSE, None, ping_payload)),
    "oversized": bytes([255]) + struct.pack(">I", 0x7FFFFFFF) + b"abc",
    "bad_payload": bytes([255]) + prefixed(frame(11, REQUEST, DB + "Ping", b"\x08\x01")),
}

filters = {
    "eq": '{"lang": "en"}',
    "range": '{"year": {"$gte": 2020, "$lt": 2030}}',
    "or_in": '{"$or": [{"a": 1}, {"b": {"$in": [1, 2, "x", null, true]}}]}',
    "exists_path": '{"a.b.c": {"$exists": true}}',
    "not_ne": '{"$not": {"x": {"$ne": null}}}',
    "nin_and": '{"$and": [{"tags": {"$nin": ["a", "b"]}}, {"n": {"$eq": 1.5}}]}',
    "nested_object": '{"meta": {"author": {"name": "x"}}}',
    "field_not": '{"score": {"$not": {"$gt": 3}}}',
    "unknown_op": '{"x": {"$regex": "a.*"}}',
    "not_object": "[1, 2, 3]",
    "empty": "{}",
    "duplicate_key": '{"a": 1, "a": 2}',
}

splitter = {
    "recursive": bytes([0, 20, 5, 0]) + b"Hello world.\n\nThis is a paragraph.\nAnd a line.",
    "character": bytes([1, 10, 0, 0]) + b"one\n\ntwo\n\nthree four five six seven",
    "markdown": bytes([2, 30, 4, 0]) + b"# Title\n\nSome *text*.\n\n## Part\n\n- a\n- b\n\n```\ncode\n```\n",
    "unicode": bytes([0, 5, 1, 0]) + "caf\u00e9 \u65e5\u672c\u8a9e \U0001F600 na\u00efve".encode(),
    "separators": bytes([0, 8, 2, 1]) + b"|\x01;\x02a|b;c|d;e f g h i j",
    "invalid_utf8": bytes([0, 16, 0, 0]) + b"abc\xff\xfe def",
    "bad_spec": bytes([3, 10, 70, 0]) + b"text",
}


def write(folder, items):
    path = os.path.join(HERE, "corpus", folder)
    os.makedirs(path, exist_ok=True)
    for name, data in items.items():
        if isinstance(data, str):
            data = data.encode()
        with open(os.path.join(path, name), "wb") as f:
            f.write(data)


write("envelope", envelope)
write("filter", filters)
write("splitter", splitter)

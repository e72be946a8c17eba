"""A scripted stand-in for pgmld, for the tests that need answers a real
daemon cannot be made to give on demand (every status code, a call that
never completes, a connection dropped mid-call).

It speaks the real framing (4-byte big-endian length, then a pgml.v1.Frame)
with a minimal protobuf encoder/decoder written for the Frame's fields only.
It answers "pgml.v1.Database/Ping" by the request's data:
  b"code:N"   completes with status N, message "fake status N" and details
              {"code": N, "fake": true}
  b"hang"     never answers (the test watches for the CANCEL frame)
  b"drop"     closes the connection without answering
  anything    echoes the data (a valid PingResponse)
Every other method answers UNIMPLEMENTED.
"""
import asyncio
import json
import os

REQUEST, RESPONSE, CANCEL = 0, 1, 2


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _read_varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def decode(buf):
    """The fields of a protobuf message: {number: value} (last one wins)."""
    fields, i = {}, 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, i = _read_varint(buf, i)
        elif wt == 2:
            n, i = _read_varint(buf, i)
            val, i = bytes(buf[i:i + n]), i + n
        elif wt == 1:
            val, i = bytes(buf[i:i + 8]), i + 8
        elif wt == 5:
            val, i = bytes(buf[i:i + 4]), i + 4
        else:
            raise ValueError(f"wire type {wt}")
        fields[num] = val
    return fields


def encode(fields):
    """A protobuf message from [(number, int | bytes | str)]."""
    out = bytearray()
    for num, val in fields:
        if isinstance(val, int):
            out += _varint(num << 3) + _varint(val)
        else:
            if isinstance(val, str):
                val = val.encode()
            out += _varint(num << 3 | 2) + _varint(len(val)) + val
    return bytes(out)


class FakePgmld:
    def __init__(self, path):
        self.path = path
        self.server = None
        self.requests = []   # (id, method, payload, timeout_ms)
        self.cancels = []    # ids of CANCEL frames received
        self.cancel_seen = asyncio.Event()
        self.writers = []

    @property
    def address(self):
        return "unix://" + self.path

    async def start(self):
        self.server = await asyncio.start_unix_server(self._serve, path=self.path)
        return self

    async def stop(self):
        for w in self.writers:
            w.close()
        self.server.close()
        await self.server.wait_closed()
        if os.path.exists(self.path):
            os.unlink(self.path)

    def _reply(self, w, call_id, code=0, payload=b"", message="", details=""):
        body = encode([(1, call_id), (2, RESPONSE), (4, payload), (5, code),
                       (6, message), (7, details)])
        w.write(len(body).to_bytes(4, "big") + body)

    async def _serve(self, r, w):
        self.writers.append(w)
        try:
            while True:
                head = await r.readexactly(4)
                f = decode(await r.readexactly(int.from_bytes(head, "big")))
                call_id, kind = f.get(1, 0), f.get(2, REQUEST)
                if kind == CANCEL:
                    self.cancels.append(call_id)
                    self.cancel_seen.set()
                    continue
                method = f.get(3, b"").decode()
                payload = f.get(4, b"")
                self.requests.append((call_id, method, payload, f.get(8, 0)))
                if method != "pgml.v1.Database/Ping":
                    self._reply(w, call_id, 12, message=f"{method} is not implemented by the fake")
                    continue
                data = decode(payload).get(1, b"")
                if data.startswith(b"code:"):
                    code = int(data[5:])
                    self._reply(w, call_id, code, message=f"fake status {code}",
                                details=json.dumps({"code": code, "fake": True}))
                elif data == b"hang":
                    pass
                elif data == b"drop":
                    w.close()
                    return
                else:
                    self._reply(w, call_id, 0, payload=encode([(1, data)]))
                await w.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            w.close()

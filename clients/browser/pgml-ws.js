// pgml-ws.js - a minimal browser client of pgmld over WebSocket: the
// pgml.v1.Frame envelope and the Ping messages encoded by hand (just those
// three messages of proto/pgml/v1/*.proto, so that the example needs no
// build step and no dependency), and a connection that matches answers to
// calls by id.  Protocol: docs/protocol.md section 13; guide:
// docs/clients/browser.md.  For the other messages, generate code from the
// .proto with any protobuf library (protobuf.js, protobuf-es) and pass the
// encoded bytes to PgmlSocket.call().

// ------------------------------------------------------------ wire format

const KIND_REQUEST = 0;
const KIND_RESPONSE = 1;
const KIND_CANCEL = 2;

const utf8 = new TextEncoder();
const utf8d = new TextDecoder('utf-8', { fatal: false });

class Writer {
  constructor() { this.bytes = []; }
  varint(v) {
    // Numbers up to 2^53; ids and sizes here stay far below.
    let n = Math.floor(v);
    while (n >= 0x80) {
      this.bytes.push((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    this.bytes.push(n);
  }
  tag(field, wire) { this.varint(field * 8 + wire); }
  uint(field, v) { if (v) { this.tag(field, 0); this.varint(v); } }
  bytesField(field, b) {
    if (b && b.length) { this.tag(field, 2); this.varint(b.length); for (const x of b) this.bytes.push(x); }
  }
  string(field, s) { if (s) this.bytesField(field, utf8.encode(s)); }
  finish() { return Uint8Array.from(this.bytes); }
}

class Reader {
  constructor(buf) { this.buf = buf; this.pos = 0; }
  done() { return this.pos >= this.buf.length; }
  varint() {
    let v = 0, mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.pos++];
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 0x80;
    }
    throw new Error('varint longer than 10 bytes');
  }
  bytes() {
    const n = this.varint();
    if (n > this.buf.length - this.pos) throw new Error('truncated field');
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  skip(wire) {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
    if (this.pos > this.buf.length) throw new Error('truncated field');
  }
}

// pgml.v1.Frame -> bytes.  frame: { id, kind, method, payload (Uint8Array),
// timeoutMs, metadata: { key: value } }.
export function encodeFrame(frame) {
  const w = new Writer();
  w.uint(1, frame.id);
  w.uint(2, frame.kind || KIND_REQUEST);
  w.string(3, frame.method);
  w.bytesField(4, frame.payload);
  w.uint(8, frame.timeoutMs);
  for (const [k, v] of Object.entries(frame.metadata || {})) {
    const e = new Writer();
    e.string(1, k);
    e.string(2, v);
    w.bytesField(9, e.finish());
  }
  return w.finish();
}

// bytes -> { id, kind, method, payload, code, message, details }.
export function decodeFrame(buf) {
  const r = new Reader(buf);
  const f = { id: 0, kind: 0, method: '', payload: new Uint8Array(0), code: 0, message: '',
              details: '' };
  while (!r.done()) {
    const t = r.varint(), field = Math.floor(t / 8), wire = t % 8;
    if (field === 1 && wire === 0) f.id = r.varint();
    else if (field === 2 && wire === 0) f.kind = r.varint();
    else if (field === 3 && wire === 2) f.method = utf8d.decode(r.bytes());
    else if (field === 4 && wire === 2) f.payload = r.bytes().slice();
    else if (field === 5 && wire === 0) f.code = r.varint();
    else if (field === 6 && wire === 2) f.message = utf8d.decode(r.bytes());
    else if (field === 7 && wire === 2) f.details = utf8d.decode(r.bytes());
    else r.skip(wire);
  }
  return f;
}

// pgml.v1.PingRequest { bytes data = 1; } and PingResponse (the same).
export function encodePingRequest(data) {
  const w = new Writer();
  w.bytesField(1, data);
  return w.finish();
}

export function decodePingResponse(buf) {
  const r = new Reader(buf);
  let data = new Uint8Array(0);
  while (!r.done()) {
    const t = r.varint();
    if (t === 0x0a) data = r.bytes().slice();
    else r.skip(t % 8);
  }
  return { data };
}

// pgml.v1.Code names, gRPC's numbering.
export const CODES = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED',
  'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE',
  'DATA_LOSS', 'UNAUTHENTICATED'];

export class PgmlError extends Error {
  constructor(code, message, details) {
    super(`${CODES[code] || 'UNKNOWN'}: ${message}`);
    this.code = code;
    this.codeName = CODES[code] || 'UNKNOWN';
    this.details = details || null;
  }
}

// ------------------------------------------------------------ connection

// One WebSocket to pgmld; many calls in flight, answers matched by id.
// A browser cannot set headers on the upgrade, so the token goes in every
// request's metadata ("authorization": "Bearer <token>").
export class PgmlSocket {
  static open(url, { token } = {}) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, 'pgml.v1');
      ws.binaryType = 'arraybuffer';
      ws.onopen = () => resolve(new PgmlSocket(ws, token));
      ws.onerror = () => reject(new PgmlError(14, `cannot connect to ${url}`));
    });
  }

  constructor(ws, token) {
    this.ws = ws;
    this.token = token;
    this.nextId = 1;
    this.pending = new Map();
    ws.onmessage = (ev) => this.onMessage(ev);
    ws.onclose = (ev) => this.failAll(new PgmlError(14, `connection lost: ${ev.code} ${ev.reason}`));
  }

  onMessage(ev) {
    if (typeof ev.data === 'string') return;          // pgmld sends binary only
    let f;
    try {
      f = decodeFrame(new Uint8Array(ev.data));
    } catch (e) {
      this.failAll(new PgmlError(13, `undecodable frame from pgmld: ${e.message}`));
      this.ws.close(1002);
      return;
    }
    if (f.kind !== KIND_RESPONSE) return;
    if (f.id === 0) {                                 // about the connection
      this.failAll(new PgmlError(f.code, f.message, f.details));
      return;
    }
    const p = this.pending.get(f.id);
    if (!p) return;                                   // late answer to a cancelled call
    this.pending.delete(f.id);
    clearTimeout(p.timer);
    if (f.code === 0) p.resolve(f.payload);
    else p.reject(new PgmlError(f.code, f.message, f.details));
  }

  failAll(err) {
    for (const p of this.pending.values()) { clearTimeout(p.timer); p.reject(err); }
    this.pending.clear();
  }

  // Calls `method` ("Ping" or "pgml.v1.Database/Ping") with an encoded
  // request; resolves to the encoded response, rejects with a PgmlError.
  call(method, payload, { timeoutMs = 10000 } = {}) {
    const id = this.nextId++;
    const full = method.includes('/') ? method : `pgml.v1.Database/${method}`;
    const metadata = this.token ? { authorization: `Bearer ${this.token}` } : {};
    return new Promise((resolve, reject) => {
      const timer = timeoutMs ? setTimeout(() => {
        this.pending.delete(id);
        this.ws.send(encodeFrame({ id, kind: KIND_CANCEL }));
        reject(new PgmlError(4, `${full}: deadline of ${timeoutMs} ms exceeded`));
      }, timeoutMs) : null;
      this.pending.set(id, { resolve, reject, timer });
      this.ws.send(encodeFrame({ id, kind: KIND_REQUEST, method: full, payload, timeoutMs,
                                 metadata }));
    });
  }

  async ping(data) {
    return decodePingResponse(await this.call('Ping', encodePingRequest(data)));
  }

  close() { this.ws.close(1000); }
}

// A pure push parser for the frontend (client → server) messages of the PostgreSQL v3 protocol:
// bytes in, plain-data messages out, no I/O and no timers. Chunk boundaries are arbitrary: a message
// may arrive one byte at a time or many messages in one chunk, and the output does not depend on how
// the stream was cut. The first malformed byte fails the parser for good, because after a framing
// error there is no way to find the next message boundary again.

import { isUtf8 } from 'node:buffer';
import { OrdoError } from '../../util/index.js';
import { ProtocolError, WireSqlState } from './errors.js';

export const FrontendKind = {
  startup: 'startup',
  sslRequest: 'sslRequest',
  gssEncRequest: 'gssEncRequest',
  cancelRequest: 'cancelRequest',
  query: 'query',
  parse: 'parse',
  bind: 'bind',
  describe: 'describe',
  execute: 'execute',
  sync: 'sync',
  flush: 'flush',
  close: 'close',
  terminate: 'terminate',
  copyData: 'copyData',
  copyDone: 'copyDone',
  copyFail: 'copyFail',
  authResponse: 'authResponse',
} as const;

/** 'S' names a prepared statement, 'P' a portal (Describe and Close). */
export type TargetType = 'S' | 'P';

export interface StartupMessage {
  readonly kind: typeof FrontendKind.startup;
  readonly protocolMajor: number;
  /** The client may ask for a newer minor version; the session answers NegotiateProtocolVersion. */
  readonly protocolMinor: number;
  /** user, database, application_name, options, client_encoding, `_pq_.*` protocol options, … */
  readonly parameters: ReadonlyMap<string, string>;
}
export interface SslRequestMessage {
  readonly kind: typeof FrontendKind.sslRequest;
}
export interface GssEncRequestMessage {
  readonly kind: typeof FrontendKind.gssEncRequest;
}
export interface CancelRequestMessage {
  readonly kind: typeof FrontendKind.cancelRequest;
  readonly processId: number;
  readonly secretKey: number;
}
export interface QueryMessage {
  readonly kind: typeof FrontendKind.query;
  readonly sql: string;
}
export interface ParseMessage {
  readonly kind: typeof FrontendKind.parse;
  readonly statement: string;
  readonly sql: string;
  /** 0 leaves a parameter's type to the server. */
  readonly paramTypeOids: readonly number[];
}
export interface BindMessage {
  readonly kind: typeof FrontendKind.bind;
  readonly portal: string;
  readonly statement: string;
  /** Empty (all text), one (applies to all) or one per parameter: see `formatCodeAt`. Codes other than
   *  0 (text) and 1 (binary) are kept, for the session to reject with 22023 as PostgreSQL does. */
  readonly paramFormats: readonly number[];
  /** Raw parameter bytes, null for SQL NULL. They may alias the pushed chunk. */
  readonly params: readonly (Uint8Array | null)[];
  /** Empty (all text), one (applies to all) or one per result column: see `formatCodeAt`. */
  readonly resultFormats: readonly number[];
}
export interface DescribeMessage {
  readonly kind: typeof FrontendKind.describe;
  readonly target: TargetType;
  readonly name: string;
}
export interface ExecuteMessage {
  readonly kind: typeof FrontendKind.execute;
  readonly portal: string;
  /** 0 (or negative) means no limit. */
  readonly maxRows: number;
}
export interface SyncMessage {
  readonly kind: typeof FrontendKind.sync;
}
export interface FlushMessage {
  readonly kind: typeof FrontendKind.flush;
}
export interface CloseMessage {
  readonly kind: typeof FrontendKind.close;
  readonly target: TargetType;
  readonly name: string;
}
export interface TerminateMessage {
  readonly kind: typeof FrontendKind.terminate;
}
export interface CopyDataMessage {
  readonly kind: typeof FrontendKind.copyData;
  /** May alias the pushed chunk. */
  readonly data: Uint8Array;
}
export interface CopyDoneMessage {
  readonly kind: typeof FrontendKind.copyDone;
}
export interface CopyFailMessage {
  readonly kind: typeof FrontendKind.copyFail;
  readonly message: string;
}
/**
 * 'p': PasswordMessage, SASLInitialResponse or SASLResponse. The bytes alone do not say which; the
 * session knows what it asked for and decodes the payload with the matching `decode…` function.
 */
export interface AuthResponseMessage {
  readonly kind: typeof FrontendKind.authResponse;
  readonly payload: Uint8Array;
}

export type FrontendMessage =
  | StartupMessage
  | SslRequestMessage
  | GssEncRequestMessage
  | CancelRequestMessage
  | QueryMessage
  | ParseMessage
  | BindMessage
  | DescribeMessage
  | ExecuteMessage
  | SyncMessage
  | FlushMessage
  | CloseMessage
  | TerminateMessage
  | CopyDataMessage
  | CopyDoneMessage
  | CopyFailMessage
  | AuthResponseMessage;

export const FrontendPhase = {
  /** Untyped packets: StartupMessage, SSLRequest, GSSENCRequest, CancelRequest. */
  startup: 'startup',
  /** Typed messages, after the StartupMessage. */
  typed: 'typed',
  /** After Terminate or CancelRequest: the peer has nothing more to say; further bytes are ignored. */
  closed: 'closed',
  /** After a protocol error: every push throws it again. */
  failed: 'failed',
} as const;
export type FrontendPhase = (typeof FrontendPhase)[keyof typeof FrontendPhase];

/** Protocol codes of the untyped startup-phase packets (major 1234 is never a real version). */
export const StartupCode = {
  cancelRequest: 80877102,
  sslRequest: 80877103,
  gssEncRequest: 80877104,
} as const;

/** PostgreSQL's MAX_STARTUP_PACKET_LENGTH: startup packets are small, so a bigger one is hostile. */
export const MAX_STARTUP_PACKET_BYTES = 10_000;
/** Default bound of one typed message, length word included. PostgreSQL allows 1 GiB; 64 MiB is plenty
 *  for any parameter or COPY chunk a client sends and bounds what one connection can pin. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** A partial message's buffer starts at most this big and doubles as bytes arrive, so a header that
 *  announces a large message does not allocate it before the bytes exist. */
const INITIAL_BODY_BYTES = 64 * 1024;

export interface FrontendParserOptions {
  /** Largest accepted typed message, its 4-byte length word included. */
  readonly maxMessageBytes?: number;
  /** false: the stream starts with typed messages (tests, or a stream whose startup was handled). */
  readonly expectStartup?: boolean;
}

export type FrontendMessageHandler = (message: FrontendMessage) => void;

const TYPE_BYTES = new Set<number>([...'QPBDESHCXdcfp'].map((c) => c.charCodeAt(0)));

const EMPTY = Buffer.alloc(0);
const SYNC: SyncMessage = Object.freeze({ kind: FrontendKind.sync });
const FLUSH: FlushMessage = Object.freeze({ kind: FrontendKind.flush });
const TERMINATE: TerminateMessage = Object.freeze({ kind: FrontendKind.terminate });
const COPY_DONE: CopyDoneMessage = Object.freeze({ kind: FrontendKind.copyDone });
const SSL_REQUEST: SslRequestMessage = Object.freeze({ kind: FrontendKind.sslRequest });
const GSS_ENC_REQUEST: GssEncRequestMessage = Object.freeze({ kind: FrontendKind.gssEncRequest });

function violation(message: string): ProtocolError {
  return new ProtocolError(WireSqlState.protocolViolation, message);
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export class FrontendParser {
  private readonly maxMessageBytes: number;
  private phaseNow: FrontendPhase;
  private failure: ProtocolError | null = null;
  // An incomplete header (≤ 5 bytes) and, once the header is complete, the incomplete body.
  private readonly header = Buffer.alloc(5);
  private headerFill = 0;
  private body: Buffer | null = null;
  private bodyLength = 0;
  private bodyFill = 0;
  private bodyType = 0;
  private bodyHeaderBytes = 0;

  constructor(options: FrontendParserOptions = {}) {
    const max = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    if (!Number.isInteger(max) || max < 4 || max > 0x7fffffff) {
      throw new RangeError(`maxMessageBytes must be an integer in [4, 2^31-1], got ${max}`);
    }
    this.maxMessageBytes = max;
    this.phaseNow = options.expectStartup === false ? FrontendPhase.typed : FrontendPhase.startup;
  }

  get phase(): FrontendPhase {
    return this.phaseNow;
  }

  /** The error that failed the parser, if any. */
  get error(): ProtocolError | null {
    return this.failure;
  }

  /**
   * Bytes held for a message that is not complete yet. A session that accepts TLS after an
   * SSLRequest must see 0 here (and no message after the SSLRequest in the same push): bytes sent
   * before the handshake were not encrypted, and PostgreSQL rejects them (CVE-2021-23214).
   */
  get bufferedByteLength(): number {
    return this.body === null ? this.headerFill : this.bodyHeaderBytes + this.bodyFill;
  }

  /**
   * Feeds bytes and calls `onMessage` for every message they complete, in order. Throws a
   * ProtocolError at the first malformed byte, after the messages before it were delivered; from then
   * on every push throws the same error. The messages' byte payloads may alias `chunk`, so the caller
   * must not reuse a pushed buffer. If `onMessage` throws, the parser fails too (the rest of the
   * chunk was not consumed) and the handler's error propagates.
   */
  push(chunk: Uint8Array, onMessage: FrontendMessageHandler): void {
    if (this.failure !== null) throw this.failure;
    if (this.phaseNow === FrontendPhase.closed) return;
    try {
      this.consume(asBuffer(chunk), onMessage);
    } catch (err) {
      this.phaseNow = FrontendPhase.failed;
      this.body = null;
      this.failure = err instanceof ProtocolError ? err : violation('parser stopped: the message handler threw');
      throw err;
    }
  }

  /** Convenience for callers that want an array; a protocol error still throws. */
  pushAll(chunk: Uint8Array): FrontendMessage[] {
    const out: FrontendMessage[] = [];
    this.push(chunk, (m) => out.push(m));
    return out;
  }

  private consume(data: Buffer, onMessage: FrontendMessageHandler): void {
    let pos = 0;
    while (pos < data.length) {
      if (this.phaseNow === FrontendPhase.closed) return;
      if (this.body !== null) {
        pos = this.fillBody(data, pos, onMessage);
        continue;
      }
      const headerLength = this.phaseNow === FrontendPhase.startup ? 4 : 5;
      if (this.headerFill === 0 && data.length - pos >= headerLength) {
        // Fast path: the header is in this chunk, and usually the whole message is too.
        const type = headerLength === 5 ? (data[pos] as number) : 0;
        const bodyLength = this.checkHeader(type, data.readInt32BE(pos + headerLength - 4));
        pos += headerLength;
        if (data.length - pos >= bodyLength) {
          this.deliver(type, data.subarray(pos, pos + bodyLength), onMessage);
          pos += bodyLength;
        } else {
          this.startBody(type, bodyLength);
        }
        continue;
      }
      const n = Math.min(headerLength - this.headerFill, data.length - pos);
      data.copy(this.header, this.headerFill, pos, pos + n);
      this.headerFill += n;
      pos += n;
      if (this.headerFill < headerLength) continue;
      this.headerFill = 0;
      const type = headerLength === 5 ? (this.header[0] as number) : 0;
      const bodyLength = this.checkHeader(type, this.header.readInt32BE(headerLength - 4));
      if (bodyLength === 0) this.deliver(type, EMPTY, onMessage);
      else this.startBody(type, bodyLength);
    }
  }

  /** Validates a header before any of the body is buffered; returns the body length. */
  private checkHeader(type: number, length: number): number {
    if (this.phaseNow === FrontendPhase.startup) {
      if (length < 8 || length > MAX_STARTUP_PACKET_BYTES) throw violation(`invalid length of startup packet: ${length}`);
      return length - 4;
    }
    if (!TYPE_BYTES.has(type)) {
      throw violation(`invalid frontend message type ${type} (${JSON.stringify(String.fromCharCode(type))})`);
    }
    if (length < 4) throw violation(`invalid message length ${length} for message type "${String.fromCharCode(type)}"`);
    if (length > this.maxMessageBytes) {
      throw new ProtocolError(
        WireSqlState.programLimitExceeded,
        `message of ${length} bytes exceeds the limit of ${this.maxMessageBytes} bytes`,
      );
    }
    return length - 4;
  }

  private startBody(type: number, bodyLength: number): void {
    this.bodyType = type;
    this.bodyHeaderBytes = this.phaseNow === FrontendPhase.startup ? 4 : 5;
    this.bodyLength = bodyLength;
    this.bodyFill = 0;
    this.body = Buffer.allocUnsafe(Math.min(bodyLength, INITIAL_BODY_BYTES));
  }

  private fillBody(data: Buffer, pos: number, onMessage: FrontendMessageHandler): number {
    let body = this.body as Buffer;
    const n = Math.min(this.bodyLength - this.bodyFill, data.length - pos);
    if (this.bodyFill + n > body.length) {
      let size = body.length * 2;
      while (size < this.bodyFill + n) size *= 2;
      const grown = Buffer.allocUnsafe(Math.min(size, this.bodyLength));
      body.copy(grown, 0, 0, this.bodyFill);
      body = grown;
      this.body = grown;
    }
    data.copy(body, this.bodyFill, pos, pos + n);
    this.bodyFill += n;
    if (this.bodyFill === this.bodyLength) {
      this.body = null;
      this.bodyFill = 0;
      this.deliver(this.bodyType, body.subarray(0, this.bodyLength), onMessage);
    }
    return pos + n;
  }

  private deliver(type: number, body: Buffer, onMessage: FrontendMessageHandler): void {
    const message = this.phaseNow === FrontendPhase.startup ? this.decodeStartup(body) : decodeTyped(type, body);
    if (message.kind === FrontendKind.terminate) this.phaseNow = FrontendPhase.closed;
    onMessage(message);
  }

  private decodeStartup(body: Buffer): FrontendMessage {
    const r = new Reader(body, 'startup packet');
    const code = r.int32();
    switch (code) {
      case StartupCode.sslRequest:
        r.end();
        return SSL_REQUEST;
      case StartupCode.gssEncRequest:
        r.end();
        return GSS_ENC_REQUEST;
      case StartupCode.cancelRequest: {
        const processId = r.int32();
        const secretKey = r.int32();
        r.end();
        this.phaseNow = FrontendPhase.closed;
        return { kind: FrontendKind.cancelRequest, processId, secretKey };
      }
    }
    const protocolMajor = code >>> 16;
    const protocolMinor = code & 0xffff;
    if (protocolMajor !== 3) {
      throw new ProtocolError(
        WireSqlState.featureNotSupported,
        `unsupported frontend protocol ${protocolMajor}.${protocolMinor}: server supports 3.0 to 3.0`,
      );
    }
    const parameters = new Map<string, string>();
    for (;;) {
      if (r.remaining === 0) throw violation('invalid startup packet layout: expected terminator as last byte');
      const name = r.cstring();
      if (name === '') break;
      if (r.remaining === 0) throw violation(`invalid startup packet layout: parameter "${name}" has no value`);
      parameters.set(name, r.cstring());
    }
    if (r.remaining !== 0) throw violation('invalid startup packet layout: expected terminator as last byte');
    this.phaseNow = FrontendPhase.typed;
    return { kind: FrontendKind.startup, protocolMajor, protocolMinor, parameters };
  }
}

function decodeTyped(type: number, body: Buffer): FrontendMessage {
  switch (type) {
    case 0x51: {
      // 'Q'
      const r = new Reader(body, 'Query');
      const sql = r.cstring();
      r.end();
      return { kind: FrontendKind.query, sql };
    }
    case 0x50: {
      // 'P'
      const r = new Reader(body, 'Parse');
      const statement = r.cstring();
      const sql = r.cstring();
      const count = r.count(4);
      const paramTypeOids = new Array<number>(count);
      for (let i = 0; i < count; i++) paramTypeOids[i] = r.uint32();
      r.end();
      return { kind: FrontendKind.parse, statement, sql, paramTypeOids };
    }
    case 0x42:
      return decodeBind(body);
    case 0x44:
    case 0x43: {
      // 'D' Describe, 'C' Close
      const what = type === 0x44 ? 'Describe' : 'Close';
      const r = new Reader(body, what);
      const t = r.byte();
      if (t !== 0x53 && t !== 0x50) throw violation(`invalid ${what} message subtype ${t}`);
      const name = r.cstring();
      r.end();
      const target: TargetType = t === 0x53 ? 'S' : 'P';
      return type === 0x44
        ? { kind: FrontendKind.describe, target, name }
        : { kind: FrontendKind.close, target, name };
    }
    case 0x45: {
      // 'E'
      const r = new Reader(body, 'Execute');
      const portal = r.cstring();
      const maxRows = r.int32();
      r.end();
      return { kind: FrontendKind.execute, portal, maxRows };
    }
    case 0x53:
      new Reader(body, 'Sync').end();
      return SYNC;
    case 0x48:
      new Reader(body, 'Flush').end();
      return FLUSH;
    case 0x58:
      new Reader(body, 'Terminate').end();
      return TERMINATE;
    case 0x63:
      new Reader(body, 'CopyDone').end();
      return COPY_DONE;
    case 0x64:
      return { kind: FrontendKind.copyData, data: body };
    case 0x66: {
      const r = new Reader(body, 'CopyFail');
      const message = r.cstring();
      r.end();
      return { kind: FrontendKind.copyFail, message };
    }
    case 0x70:
      return { kind: FrontendKind.authResponse, payload: body };
    default:
      // checkHeader admits only the types above.
      throw violation(`invalid frontend message type ${type}`);
  }
}

function decodeBind(body: Buffer): BindMessage {
  const r = new Reader(body, 'Bind');
  const portal = r.cstring();
  const statement = r.cstring();
  const formatCount = r.count(2);
  const paramFormats = new Array<number>(formatCount);
  for (let i = 0; i < formatCount; i++) paramFormats[i] = r.int16();
  // Each parameter takes at least its 4-byte length word.
  const paramCount = r.count(4);
  if (formatCount > 1 && formatCount !== paramCount) {
    throw violation(`bind message has ${formatCount} parameter formats but ${paramCount} parameters`);
  }
  const params = new Array<Uint8Array | null>(paramCount);
  for (let i = 0; i < paramCount; i++) {
    const length = r.int32();
    if (length === -1) params[i] = null;
    else if (length < 0) throw violation(`invalid length ${length} of bind parameter ${i + 1}`);
    else params[i] = r.bytes(length);
  }
  const resultCount = r.count(2);
  const resultFormats = new Array<number>(resultCount);
  for (let i = 0; i < resultCount; i++) resultFormats[i] = r.int16();
  r.end();
  return { kind: FrontendKind.bind, portal, statement, paramFormats, params, resultFormats };
}

/**
 * The format of parameter or column `index` under the protocol's rule: no codes means text, one code
 * applies to all, otherwise one per item. Throws 08P01 when the count fits none of these and 22023 for
 * a code other than 0 or 1, as PostgreSQL does.
 */
export function formatCodeAt(codes: readonly number[], index: number, itemCount: number): 0 | 1 {
  // OrdoError, not ProtocolError: in PostgreSQL these are ordinary ERRORs that end the statement, not
  // the connection, and a session may call this from inside the push callback.
  if (codes.length > 1 && codes.length !== itemCount) {
    throw new OrdoError(WireSqlState.protocolViolation, `${codes.length} format codes for ${itemCount} items`);
  }
  const code = codes.length === 0 ? 0 : codes.length === 1 ? codes[0] : codes[index];
  if (code === 0 || code === 1) return code;
  throw new OrdoError(WireSqlState.invalidParameterValue, `unsupported format code: ${String(code)}`);
}

/** The cleartext password of a PasswordMessage. */
export function decodePasswordMessage(payload: Uint8Array): string {
  const r = new Reader(asBuffer(payload), 'PasswordMessage');
  const password = r.cstring();
  r.end();
  return password;
}

export interface SaslInitialResponse {
  readonly mechanism: string;
  /** null when the client sent no initial response (length -1). */
  readonly data: Uint8Array | null;
}

export function decodeSaslInitialResponse(payload: Uint8Array): SaslInitialResponse {
  const r = new Reader(asBuffer(payload), 'SASLInitialResponse');
  const mechanism = r.cstring();
  const length = r.int32();
  let data: Uint8Array | null = null;
  if (length !== -1) {
    if (length < 0) throw violation(`invalid SASLInitialResponse length ${length}`);
    data = r.bytes(length);
  }
  r.end();
  return { mechanism, data };
}

/** A SASLResponse is the mechanism's bytes as they are. */
export function decodeSaslResponse(payload: Uint8Array): Uint8Array {
  return payload;
}

/** Bounds-checked reads over one message body; every overrun is a protocol violation. */
class Reader {
  private pos = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number): void {
    if (this.buf.length - this.pos < n) throw violation(`${this.what} message is too short`);
  }

  byte(): number {
    this.need(1);
    return this.buf[this.pos++] as number;
  }

  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uint32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** A uint16 count of items of at least `minItemBytes` each, checked against what is left. */
  count(minItemBytes: number): number {
    this.need(2);
    const n = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    if (n * minItemBytes > this.remaining) throw violation(`${this.what} message: count ${n} runs past the end`);
    return n;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  cstring(): string {
    const nul = this.buf.indexOf(0, this.pos);
    if (nul === -1) throw violation(`${this.what} message: string is missing its terminator`);
    const bytes = this.buf.subarray(this.pos, nul);
    this.pos = nul + 1;
    if (!isUtf8(bytes)) {
      throw new ProtocolError(WireSqlState.characterNotInRepertoire, 'invalid byte sequence for encoding "UTF8"');
    }
    return bytes.toString('utf8');
  }

  end(): void {
    if (this.pos !== this.buf.length) throw violation(`invalid ${this.what} message format: trailing bytes`);
  }
}

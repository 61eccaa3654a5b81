// Serializers for the backend (server → client) messages of the PostgreSQL v3 protocol. One
// BackendWriter per connection accumulates any number of messages in one growable buffer (a whole
// result set: RowDescription, DataRows, CommandComplete, ReadyForQuery) and `flush()` hands them over
// as one Buffer for one socket write.

import { OrdoError } from '../../util/index.js';
import { WireSqlState } from './errors.js';

/** ReadyForQuery status: idle, in a transaction block, in a failed transaction block. */
export type TransactionStatus = 'I' | 'T' | 'E';

export const FormatCode = { text: 0, binary: 1 } as const;
export type FormatCode = (typeof FormatCode)[keyof typeof FormatCode];

export interface FieldDescription {
  readonly name: string;
  /** OID of the source table, 0 when the column is not a plain table column. */
  readonly tableOid: number;
  /** Attribute number of the column in that table, 0 otherwise. */
  readonly columnAttr: number;
  readonly typeOid: number;
  /** pg_type.typlen: -1 for varlena, -2 for cstring-like. */
  readonly typeSize: number;
  /** pg_attribute.atttypmod, -1 when none. */
  readonly typeModifier: number;
  readonly format: FormatCode;
}

/** A DataRow cell: text (written as UTF-8), raw bytes (binary format, or pre-encoded text), or NULL. */
export type WireCell = string | Uint8Array | null;

export type Severity = 'ERROR' | 'FATAL' | 'PANIC' | 'WARNING' | 'NOTICE' | 'DEBUG' | 'INFO' | 'LOG';

/** The fields of an ErrorResponse or NoticeResponse. `severity` is sent both as S and as V. */
export interface ErrorFields {
  readonly severity: Severity;
  /** SQLSTATE. */
  readonly code: string;
  readonly message: string;
  readonly detail?: string;
  readonly hint?: string;
  /** 1-based character position in the query string. */
  readonly position?: number;
  readonly internalPosition?: number;
  readonly internalQuery?: string;
  readonly where?: string;
  readonly schema?: string;
  readonly table?: string;
  readonly column?: string;
  readonly dataType?: string;
  readonly constraint?: string;
  readonly file?: string;
  readonly line?: number;
  readonly routine?: string;
}

const ERROR_FIELD_CODES: ReadonlyArray<readonly [Exclude<keyof ErrorFields, 'severity' | 'code' | 'message'>, number]> = [
  ['detail', 0x44], // D
  ['hint', 0x48], // H
  ['position', 0x50], // P
  ['internalPosition', 0x70], // p
  ['internalQuery', 0x71], // q
  ['where', 0x57], // W
  ['schema', 0x73], // s
  ['table', 0x74], // t
  ['column', 0x63], // c
  ['dataType', 0x64], // d
  ['constraint', 0x6e], // n
  ['file', 0x46], // F
  ['line', 0x4c], // L
  ['routine', 0x52], // R
];

const AuthCode = { ok: 0, cleartextPassword: 3, sasl: 10, saslContinue: 11, saslFinal: 12 } as const;

/** The writer keeps up to this much capacity between flushes; a bigger buffer is dropped after use. */
const RETAINED_CAPACITY_BYTES = 1024 * 1024;
/** The int32 length word bounds one message. */
const MAX_MESSAGE_BYTES = 0x7fffffff;
/** Strings shorter than this are sized by the UTF-8 worst case (3 bytes per UTF-16 unit) instead of a
 *  separate Buffer.byteLength scan. */
const SMALL_STRING_UNITS = 4096;

export class BackendWriter {
  private buf: Buffer;
  private length = 0;
  /** Offset of the open message's length word, -1 when none is open. */
  private messageStart = -1;

  constructor(initialCapacityBytes = 16 * 1024) {
    this.buf = Buffer.allocUnsafe(initialCapacityBytes);
  }

  /** Bytes written and not yet flushed. */
  get byteLength(): number {
    return this.length;
  }

  /** Everything written since the last flush, as a Buffer the caller owns. */
  flush(): Buffer {
    if (this.messageStart !== -1) throw new Error('invariant violated: flush inside an open message');
    const out = Buffer.allocUnsafe(this.length);
    this.buf.copy(out, 0, 0, this.length);
    this.length = 0;
    if (this.buf.length > RETAINED_CAPACITY_BYTES) this.buf = Buffer.allocUnsafe(RETAINED_CAPACITY_BYTES);
    return out;
  }

  /** Drops everything written since the last flush (e.g. a result set replaced by an error). */
  reset(): void {
    this.length = 0;
    this.messageStart = -1;
  }

  // --- startup and authentication --------------------------------------------------------------

  /** The one-byte answer to SSLRequest or GSSENCRequest: 'S'/'G' to go ahead, 'N' to refuse. */
  encryptionResponse(answer: 'S' | 'G' | 'N'): this {
    this.ensure(1);
    this.buf[this.length++] = answer.charCodeAt(0);
    return this;
  }

  authenticationOk(): this {
    return this.begin(0x52).int32(AuthCode.ok).end();
  }

  authenticationCleartextPassword(): this {
    return this.begin(0x52).int32(AuthCode.cleartextPassword).end();
  }

  authenticationSasl(mechanisms: readonly string[]): this {
    this.begin(0x52).int32(AuthCode.sasl);
    for (const m of mechanisms) this.cstring(m);
    return this.byte(0).end();
  }

  authenticationSaslContinue(data: string | Uint8Array): this {
    return this.begin(0x52).int32(AuthCode.saslContinue).raw(data).end();
  }

  authenticationSaslFinal(data: string | Uint8Array): this {
    return this.begin(0x52).int32(AuthCode.saslFinal).raw(data).end();
  }

  parameterStatus(name: string, value: string): this {
    return this.begin(0x53).cstring(name).cstring(value).end();
  }

  backendKeyData(processId: number, secretKey: number): this {
    return this.begin(0x4b).int32(processId).int32(secretKey).end();
  }

  /** The answer to a StartupMessage asking for a newer minor version or unknown `_pq_.` options. */
  negotiateProtocolVersion(newestMinor: number, unrecognizedOptions: readonly string[]): this {
    this.begin(0x76).int32(newestMinor).int32(unrecognizedOptions.length);
    for (const o of unrecognizedOptions) this.cstring(o);
    return this.end();
  }

  readyForQuery(status: TransactionStatus): this {
    return this.begin(0x5a).byte(status.charCodeAt(0)).end();
  }

  // --- query results ---------------------------------------------------------------------------

  rowDescription(fields: readonly FieldDescription[]): this {
    this.begin(0x54).int16(fields.length);
    for (const f of fields) {
      this.cstring(f.name)
        .int32(f.tableOid)
        .int16(f.columnAttr)
        .int32(f.typeOid)
        .int16(f.typeSize)
        .int32(f.typeModifier)
        .int16(f.format);
    }
    return this.end();
  }

  dataRow(cells: readonly WireCell[]): this {
    this.begin(0x44).int16(cells.length);
    for (const cell of cells) {
      if (cell === null) this.int32(-1);
      else if (typeof cell === 'string') this.lengthPrefixedString(cell);
      else this.int32(cell.length).raw(cell);
    }
    return this.end();
  }

  commandComplete(tag: string): this {
    return this.begin(0x43).cstring(tag).end();
  }

  emptyQueryResponse(): this {
    return this.empty(0x49);
  }

  parseComplete(): this {
    return this.empty(0x31);
  }

  bindComplete(): this {
    return this.empty(0x32);
  }

  closeComplete(): this {
    return this.empty(0x33);
  }

  noData(): this {
    return this.empty(0x6e);
  }

  portalSuspended(): this {
    return this.empty(0x73);
  }

  parameterDescription(typeOids: readonly number[]): this {
    this.begin(0x74).int16(typeOids.length);
    for (const oid of typeOids) this.int32(oid);
    return this.end();
  }

  errorResponse(fields: ErrorFields): this {
    return this.noticeOrError(0x45, fields);
  }

  noticeResponse(fields: ErrorFields): this {
    return this.noticeOrError(0x4e, fields);
  }

  notificationResponse(processId: number, channel: string, payload: string): this {
    return this.begin(0x41).int32(processId).cstring(channel).cstring(payload).end();
  }

  // --- COPY ------------------------------------------------------------------------------------

  /** `format` is the overall format; `columnFormats` has one code per column (all 0 for text/csv). */
  copyInResponse(format: FormatCode, columnFormats: readonly FormatCode[]): this {
    return this.copyResponse(0x47, format, columnFormats);
  }

  copyOutResponse(format: FormatCode, columnFormats: readonly FormatCode[]): this {
    return this.copyResponse(0x48, format, columnFormats);
  }

  copyData(data: string | Uint8Array): this {
    return this.begin(0x64).raw(data).end();
  }

  copyDone(): this {
    return this.empty(0x63);
  }

  // --- primitives ------------------------------------------------------------------------------

  private copyResponse(type: number, format: FormatCode, columnFormats: readonly FormatCode[]): this {
    this.begin(type).byte(format).int16(columnFormats.length);
    for (const f of columnFormats) this.int16(f);
    return this.end();
  }

  private noticeOrError(type: number, fields: ErrorFields): this {
    this.begin(type);
    this.field(0x53, fields.severity).field(0x56, fields.severity).field(0x43, fields.code).field(0x4d, fields.message);
    for (const [key, code] of ERROR_FIELD_CODES) {
      const v = fields[key];
      if (v !== undefined) this.field(code, typeof v === 'number' ? String(v) : v);
    }
    return this.byte(0).end();
  }

  /** Error texts are human-readable and may quote user input: a NUL would cut the field short and
   *  break the framing, so it is replaced rather than refused (an error must always be sendable). */
  private field(code: number, text: string): this {
    return this.byte(code).cstring(text.includes('\0') ? text.replaceAll('\0', '\uFFFD') : text);
  }

  private empty(type: number): this {
    this.ensure(5);
    this.buf[this.length] = type;
    this.buf.writeInt32BE(4, this.length + 1);
    this.length += 5;
    return this;
  }

  private begin(type: number): this {
    if (this.messageStart !== -1) throw new Error('invariant violated: message begun inside an open message');
    this.ensure(5);
    this.buf[this.length] = type;
    this.messageStart = this.length + 1;
    this.length += 5;
    return this;
  }

  /** Drops a half-written message, so a refused value leaves the writer usable. */
  private rollback(): void {
    if (this.messageStart === -1) return;
    this.length = this.messageStart - 1;
    this.messageStart = -1;
  }

  private end(): this {
    const size = this.length - this.messageStart;
    if (size > MAX_MESSAGE_BYTES) {
      this.rollback();
      throw new OrdoError(WireSqlState.programLimitExceeded, `backend message of ${size} bytes is too large`);
    }
    this.buf.writeInt32BE(size, this.messageStart);
    this.messageStart = -1;
    return this;
  }

  private ensure(n: number): void {
    const needed = this.length + n;
    if (needed <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < needed) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buf.copy(grown, 0, 0, this.length);
    this.buf = grown;
  }

  private byte(v: number): this {
    this.ensure(1);
    this.buf[this.length++] = v;
    return this;
  }

  private int16(v: number): this {
    if (v !== (v << 16) >> 16 && v !== (v & 0xffff)) {
      this.rollback();
      throw new RangeError(`${v} does not fit an int16 field`);
    }
    this.ensure(2);
    this.buf.writeUInt16BE(v & 0xffff, this.length);
    this.length += 2;
    return this;
  }

  /** Accepts the full int32 and uint32 range: OIDs are unsigned. */
  private int32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.length);
    this.length += 4;
    return this;
  }

  private cstring(s: string): this {
    if (s.includes('\0')) {
      this.rollback();
      throw new OrdoError(WireSqlState.characterNotInRepertoire, 'invalid byte sequence for encoding "UTF8": 0x00');
    }
    this.utf8(s);
    return this.byte(0);
  }

  private lengthPrefixedString(s: string): this {
    const at = this.length;
    this.int32(0);
    const n = this.utf8(s);
    this.buf.writeInt32BE(n, at);
    return this;
  }

  private raw(data: string | Uint8Array): this {
    if (typeof data === 'string') {
      this.utf8(data);
      return this;
    }
    this.ensure(data.length);
    this.buf.set(data, this.length);
    this.length += data.length;
    return this;
  }

  private utf8(s: string): number {
    this.ensure(s.length < SMALL_STRING_UNITS ? s.length * 3 : Buffer.byteLength(s, 'utf8'));
    const n = this.buf.write(s, this.length, 'utf8');
    this.length += n;
    return n;
  }
}

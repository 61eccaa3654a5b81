// COPY … FROM STDIN and COPY … TO STDOUT, text and csv formats: statement parsing and the row codecs.
// The session streams COPY input through CopyIn in bounded batches (CopyLimits.rowsPerBatch rows per
// transaction), so a large load never sits in memory at once.

import { OrdoError, SqlState } from '../util/index.js';
import { SqlStateX } from './types.js';
import { utilityTokens } from './normalize.js';

export const CopyLimits = {
  /** Rows per load transaction: big enough to amortize a log round trip, small enough to bound memory. */
  rowsPerBatch: 1_000,
  /** A longer input line is refused (it would otherwise grow without bound while waiting for a newline). */
  maxLineBytes: 1 << 20,
} as const;

export interface CopyStatement {
  readonly table: string;
  /** null: every column, in table order. */
  readonly columns: readonly string[] | null;
  readonly direction: 'from' | 'to';
  readonly format: 'text' | 'csv';
  readonly delimiter: string;
  readonly header: boolean;
  readonly nullText: string;
}

/** Parses `COPY table [(cols)] {FROM STDIN | TO STDOUT} [[WITH] (options) | legacy options]`. */
export function parseCopy(sql: string): CopyStatement {
  const toks = utilityTokens(sql).filter((t) => t.text !== ';');
  let i = 1;
  const word = (): string => (toks[i]?.kind === 'qident' ? (toks[i]?.text ?? '').slice(1, -1) : (toks[i]?.text ?? '').toLowerCase());
  if (toks[i]?.text === '(') throw new OrdoError(SqlState.featureNotSupported, 'COPY (query) is not supported');
  let table = word();
  i++;
  if (toks[i]?.text === '.') {
    i++;
    table = word();
    i++;
  }
  let columns: string[] | null = null;
  if (toks[i]?.text === '(') {
    columns = [];
    i++;
    while (i < toks.length && toks[i]?.text !== ')') {
      if (toks[i]?.text !== ',') columns.push(word());
      i++;
    }
    i++;
  }
  const dir = word();
  if (dir !== 'from' && dir !== 'to') throw new OrdoError(SqlStateX.syntaxError, 'syntax error in COPY: expected FROM or TO');
  i++;
  const target = word();
  if ((dir === 'from' && target !== 'stdin') || (dir === 'to' && target !== 'stdout')) {
    throw new OrdoError(SqlState.featureNotSupported, `COPY ${dir.toUpperCase()} a file or program is not supported (only STDIN/STDOUT)`);
  }
  i++;
  let format: 'text' | 'csv' = 'text';
  let delimiter: string | null = null;
  let header = false;
  let nullText: string | null = null;
  if (word() === 'with') i++;
  const rest = toks.slice(i).filter((t) => t.text !== '(' && t.text !== ')' && t.text !== ',');
  for (let j = 0; j < rest.length; j++) {
    const w = (rest[j]?.text ?? '').toLowerCase();
    const next = (): string => rest[++j]?.value ?? '';
    switch (w) {
      case 'format': {
        const f = next().toLowerCase();
        if (f !== 'text' && f !== 'csv') throw new OrdoError(SqlState.featureNotSupported, `COPY format ${f} is not supported`);
        format = f;
        break;
      }
      case 'csv':
        format = 'csv';
        break;
      case 'binary':
        throw new OrdoError(SqlState.featureNotSupported, 'COPY binary format is not supported');
      case 'delimiter':
        delimiter = next();
        break;
      case 'null':
        nullText = next();
        break;
      case 'header': {
        const v = (rest[j + 1]?.text ?? '').toLowerCase();
        header = true;
        if (['true', 'on', '1', 'false', 'off', '0'].includes(v)) {
          header = ['true', 'on', '1'].includes(v);
          j++;
        }
        break;
      }
      case 'freeze': {
        // An optimization hint for PostgreSQL's heap; meaningless here.
        const v = (rest[j + 1]?.text ?? '').toLowerCase();
        if (['true', 'on', '1', 'false', 'off', '0'].includes(v)) j++;
        break;
      }
      default:
        throw new OrdoError(SqlState.featureNotSupported, `COPY option ${w} is not supported`);
    }
  }
  const d = delimiter ?? (format === 'csv' ? ',' : '\t');
  if (d.length !== 1) throw new OrdoError('22023', 'COPY delimiter must be a single one-byte character');
  return { table, columns, direction: dir, format, delimiter: d, header, nullText: nullText ?? (format === 'csv' ? '' : '\\N') };
}

/** Splits streamed COPY input into rows of text fields (null for SQL NULL). */
export class CopyInDecoder {
  private pending = '';
  private headerSkipped: boolean;
  private done = false;
  private lineNo = 0;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });

  constructor(private readonly stmt: CopyStatement) {
    this.headerSkipped = !stmt.header;
  }

  /** Feeds bytes; returns the complete rows they finish. */
  push(data: Uint8Array, rows: (string | null)[][]): void {
    let text: string;
    try {
      text = this.decoder.decode(data, { stream: true });
    } catch {
      throw new OrdoError('22021', 'invalid byte sequence for encoding "UTF8"');
    }
    this.pending += text;
    this.drain(rows, false);
    if (this.pending.length > CopyLimits.maxLineBytes) throw new OrdoError('54000', `COPY line longer than ${CopyLimits.maxLineBytes} bytes`);
  }

  /** The end of the input: the last line may lack its newline. */
  end(rows: (string | null)[][]): void {
    this.drain(rows, true);
  }

  private drain(rows: (string | null)[][], final: boolean): void {
    for (;;) {
      if (this.done) {
        this.pending = '';
        return;
      }
      let nl = this.stmt.format === 'csv' ? csvLineEnd(this.pending) : this.pending.indexOf('\n');
      if (nl < 0) {
        if (!final || this.pending === '') return;
        nl = this.pending.length;
      }
      let line = this.pending.slice(0, nl);
      this.pending = this.pending.slice(nl + 1);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      this.lineNo++;
      if (line === '\\.') {
        this.done = true;
        continue;
      }
      if (!this.headerSkipped) {
        this.headerSkipped = true;
        continue;
      }
      rows.push(this.stmt.format === 'csv' ? this.csvFields(line) : this.textFields(line));
    }
  }

  private textFields(line: string): (string | null)[] {
    return line.split(this.stmt.delimiter).map((f) => (f === this.stmt.nullText ? null : unescapeText(f)));
  }

  private csvFields(line: string): (string | null)[] {
    const out: (string | null)[] = [];
    let i = 0;
    const d = this.stmt.delimiter;
    for (;;) {
      if (line[i] === '"') {
        let v = '';
        i++;
        for (;;) {
          if (i >= line.length) throw new OrdoError('22P04', `unterminated CSV quoted field (line ${this.lineNo})`);
          const c = line[i] as string;
          if (c === '"') {
            if (line[i + 1] === '"') {
              v += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          v += c;
          i++;
        }
        out.push(v);
      } else {
        let j = line.indexOf(d, i);
        if (j < 0) j = line.length;
        const v = line.slice(i, j);
        out.push(v === this.stmt.nullText ? null : v);
        i = j;
      }
      if (i >= line.length) return out;
      if (line[i] !== d) throw new OrdoError('22P04', `extra data after last expected column (line ${this.lineNo})`);
      i++;
    }
  }
}

/** The end of the first CSV record: a newline outside quotes, or -1. */
function csvLineEnd(s: string): number {
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 34) quoted = !quoted;
    else if (c === 10 && !quoted) return i;
  }
  return -1;
}

const TEXT_ESCAPES: Readonly<Record<string, string>> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };

function unescapeText(f: string): string {
  if (!f.includes('\\')) return f;
  return f.replace(/\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)/g, (_, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return TEXT_ESCAPES[e] ?? e;
  });
}

/** One row of COPY TO output, fields already in text form (null for SQL NULL). */
export function encodeCopyRow(stmt: CopyStatement, fields: readonly (string | null)[]): string {
  if (stmt.format === 'csv') {
    return (
      fields
        .map((f) => {
          if (f === null) return stmt.nullText;
          return f === '' || /[",\r\n]/.test(f) || f.includes(stmt.delimiter) ? `"${f.replace(/"/g, '""')}"` : f;
        })
        .join(stmt.delimiter) + '\n'
    );
  }
  return fields.map((f) => (f === null ? stmt.nullText : f.replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c] ?? c))).join(stmt.delimiter) + '\n';
}

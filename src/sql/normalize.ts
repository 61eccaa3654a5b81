// Statement splitting and normalization by a small tokenizer, so the (slow) SQL parser runs only
// when a statement shape is new. Literals in expression positions of SELECT/INSERT/UPDATE/DELETE are
// lifted into parameters ($1, $2, …); the normalized text plus the kinds of the lifted literals is
// the plan cache key. Everything else (DDL, SET, literals in ORDER BY, typed literals like
// `DATE '…'`) is left in place, because there a literal changes the plan.

import { OrdoError } from '../util/index.js';
import { SqlStateX } from './types.js';

/** What a lifted literal looked like: its kind fixes its default type in the plan. */
export type LiteralKind =
  /** Digits only; int4 when it fits, else int8 (or numeric beyond int64, as PostgreSQL does). */
  | { readonly k: 'int' }
  /** Decimal with a fraction or exponent: numeric with this many fractional digits. */
  | { readonly k: 'numeric'; readonly scale: number }
  | { readonly k: 'string' };

export interface LiftedLiteral {
  readonly kind: LiteralKind;
  /** The literal's value as text (string literals unescaped). */
  readonly text: string;
}

export interface SplitStatement {
  /** The statement as the client sent it (trimmed), for audit and error messages. */
  readonly text: string;
  /** Normalized text: comments dropped, tokens separated by single spaces, literals lifted. */
  readonly normalized: string;
  readonly literals: readonly LiftedLiteral[];
  /** The first word, upper-cased ('' for an empty statement). */
  readonly firstWord: string;
  /** Plan cache key: normalized text plus the literal kinds that change the plan. */
  readonly cacheKey: string;
  /** Maps a 0-based offset in `normalized` to the 1-based character position in the whole query. */
  readonly originalPosition: (normalizedOffset: number) => number;
}

type TokKind = 'word' | 'qident' | 'string' | 'number' | 'param' | 'op' | 'semi';
interface Tok {
  readonly kind: TokKind;
  readonly text: string;
  /** For strings: the unescaped value. */
  readonly value?: string;
  readonly start: number;
}

/** Words after which an expression starts, so a literal there is a value and can be lifted. */
const EXPR_KEYWORDS: ReadonlySet<string> = new Set([
  'SELECT', 'WHERE', 'AND', 'OR', 'NOT', 'VALUES', 'SET', 'THEN', 'ELSE', 'WHEN', 'IN', 'BETWEEN', 'LIMIT',
  'OFFSET', 'RETURNING', 'IS', 'CASE', 'HAVING', 'ON',
]);
const LIFT_AFTER_OPS: ReadonlySet<string> = new Set(['(', ',', '=', '<', '>', '<=', '>=', '<>', '!=', '+', '-', '*', '/', '%', '||']);
const NORMALIZED_STATEMENTS: ReadonlySet<string> = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE']);
const MAX_STATEMENTS_PER_QUERY = 10_000;

function syntaxError(message: string, at: number): OrdoError {
  const err = new OrdoError(SqlStateX.syntaxError, message);
  (err as OrdoError & { position?: number }).position = at + 1;
  return err;
}

function tokenize(sql: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i] as string;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '-' && sql[i + 1] === '-') {
      while (i < n && sql[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && sql[i + 1] === '*') {
      let depth = 1;
      const start = i;
      i += 2;
      while (i < n && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (sql[i] === '*' && sql[i + 1] === '/') {
          depth--;
          i += 2;
        } else i++;
      }
      if (depth > 0) throw syntaxError('unterminated /* comment', start);
      continue;
    }
    const start = i;
    if (c === "'" || ((c === 'E' || c === 'e') && sql[i + 1] === "'")) {
      const escapes = c !== "'";
      i += escapes ? 2 : 1;
      let value = '';
      for (;;) {
        if (i >= n) throw syntaxError('unterminated quoted string', start);
        const d = sql[i] as string;
        if (d === "'") {
          if (sql[i + 1] === "'") {
            value += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (escapes && d === '\\' && i + 1 < n) {
          const e = sql[i + 1] as string;
          value += e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e === 'b' ? '\b' : e === 'f' ? '\f' : e;
          i += 2;
          continue;
        }
        value += d;
        i++;
      }
      out.push({ kind: 'string', text: sql.slice(start, i), value, start });
      continue;
    }
    if (c === '"') {
      i++;
      while (i < n && !(sql[i] === '"' && sql[i + 1] !== '"')) i += sql[i] === '"' ? 2 : 1;
      if (i >= n) throw syntaxError('unterminated quoted identifier', start);
      i++;
      out.push({ kind: 'qident', text: sql.slice(start, i), start });
      continue;
    }
    if (c === '$' && /[0-9]/.test(sql[i + 1] ?? '')) {
      i++;
      while (i < n && /[0-9]/.test(sql[i] as string)) i++;
      out.push({ kind: 'param', text: sql.slice(start, i), start });
      continue;
    }
    if (c === '$') throw new OrdoError('0A000', 'dollar-quoted strings are not supported');
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(sql[i + 1] ?? ''))) {
      while (i < n && /[0-9]/.test(sql[i] as string)) i++;
      if (sql[i] === '.' && sql[i + 1] !== '.') {
        i++;
        while (i < n && /[0-9]/.test(sql[i] as string)) i++;
      }
      if ((sql[i] === 'e' || sql[i] === 'E') && /[0-9+-]/.test(sql[i + 1] ?? '')) {
        i += 2;
        while (i < n && /[0-9]/.test(sql[i] as string)) i++;
      }
      out.push({ kind: 'number', text: sql.slice(start, i), start });
      continue;
    }
    if (/[A-Za-z_\u0080-\uffff]/.test(c)) {
      while (i < n && /[A-Za-z0-9_$\u0080-\uffff]/.test(sql[i] as string)) i++;
      out.push({ kind: 'word', text: sql.slice(start, i), start });
      continue;
    }
    if (c === ';') {
      out.push({ kind: 'semi', text: ';', start });
      i++;
      continue;
    }
    const two = sql.slice(i, i + 2);
    if (['<=', '>=', '<>', '!=', '||', '::'].includes(two)) {
      out.push({ kind: 'op', text: two, start });
      i += 2;
      continue;
    }
    out.push({ kind: 'op', text: c, start });
    i++;
  }
  return out;
}

function literalKind(text: string): LiteralKind {
  if (/^[0-9]+$/.test(text)) return { k: 'int' };
  const m = /^[0-9]*(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$/.exec(text);
  const frac = (m?.[1] ?? '').length - Number(m?.[2] ?? '0');
  return { k: 'numeric', scale: Math.max(0, frac) };
}

function kindKey(kind: LiteralKind, text: string): string {
  switch (kind.k) {
    case 'int':
      // The type of an integer literal depends on its size, so the plan does too.
    {
      const digits = text.replace(/^0+(?=.)/, '');
      if (digits.length <= 9) return 'i';
      return BigInt(digits) > 9223372036854775807n ? 'N' : 'I';
    }
    case 'numeric':
      return `n${kind.scale}`;
    default:
      return 's';
  }
}

function normalizeOne(sql: string, toks: readonly Tok[]): SplitStatement {
  const first = toks[0];
  const firstWord = first !== undefined && first.kind === 'word' ? first.text.toUpperCase() : '';
  const text = first === undefined ? '' : sql.slice(first.start, (toks.at(-1) as Tok).start + (toks.at(-1) as Tok).text.length);
  const lift = NORMALIZED_STATEMENTS.has(firstWord) && !toks.some((t) => t.kind === 'param');
  const literals: LiftedLiteral[] = [];
  const parts: string[] = [];
  const starts: number[] = [];
  let kinds = '';
  let inOrderBy = false;
  let prev: Tok | undefined;
  for (let i = 0; i < toks.length; i++) {
    const tok = toks[i] as Tok;
    const upper = tok.kind === 'word' ? tok.text.toUpperCase() : '';
    if (upper === 'BY' && prev?.kind === 'word' && (prev.text.toUpperCase() === 'ORDER' || prev.text.toUpperCase() === 'GROUP')) inOrderBy = true;
    if (upper === 'LIMIT' || upper === 'OFFSET' || upper === 'RETURNING' || upper === 'HAVING') inOrderBy = false;
    const liftable =
      lift &&
      !inOrderBy &&
      (tok.kind === 'number' || (tok.kind === 'string' && !/^[eE]/.test(tok.text))) &&
      prev !== undefined &&
      ((prev.kind === 'op' && LIFT_AFTER_OPS.has(prev.text)) || (prev.kind === 'word' && EXPR_KEYWORDS.has(prev.text.toUpperCase())));
    if (liftable) {
      const kind: LiteralKind = tok.kind === 'string' ? { k: 'string' } : literalKind(tok.text);
      const value = tok.kind === 'string' ? (tok.value as string) : tok.text;
      literals.push({ kind, text: value });
      kinds += kindKey(kind, value);
      parts.push(`$${literals.length}`);
    } else if (tok.kind === 'string' && /^[eE]/.test(tok.text)) {
      // E'…' is rewritten as a standard string so the parser sees one spelling.
      parts.push(`'${(tok.value as string).replaceAll("'", "''")}'`);
    } else if (tok.kind === 'word') {
      // Unquoted identifiers fold to lower case, as in PostgreSQL; the parser keeps case as written.
      const lower = tok.text.toLowerCase();
      // node-sql-parser reads character(n) as character varying(n) and does not know bpchar.
      const next = toks[i + 1];
      parts.push((lower === 'character' && next?.text === '(') || lower === 'bpchar' ? 'char' : lower);
    } else parts.push(tok.text);
    starts.push(tok.start);
    prev = tok;
  }
  const normalized = parts.join(' ');
  const normStarts: number[] = [];
  let at = 0;
  for (const part of parts) {
    normStarts.push(at);
    at += part.length + 1;
  }
  const originalPosition = (offset: number): number => {
    let k = 0;
    while (k + 1 < normStarts.length && (normStarts[k + 1] as number) <= offset) k++;
    return (starts[k] ?? 0) + 1;
  };
  return { text, normalized, literals, firstWord, cacheKey: `${normalized}\u0000${kinds}`, originalPosition };
}

/** Splits a Query message into statements (empty ones dropped) and normalizes each. */
export function splitAndNormalize(sql: string): SplitStatement[] {
  const toks = tokenize(sql);
  const out: SplitStatement[] = [];
  let current: Tok[] = [];
  for (const tok of toks) {
    if (tok.kind === 'semi') {
      if (current.length > 0) out.push(normalizeOne(sql, current));
      current = [];
      if (out.length > MAX_STATEMENTS_PER_QUERY) throw new OrdoError('54000', `more than ${MAX_STATEMENTS_PER_QUERY} statements in one query`);
    } else current.push(tok);
  }
  if (current.length > 0) out.push(normalizeOne(sql, current));
  return out;
}

/** Normalizes one statement of the extended protocol: its own $n parameters, nothing lifted. */
export function normalizeSingle(sql: string): SplitStatement | null {
  const all = splitAndNormalize(sql);
  if (all.length > 1) throw new OrdoError(SqlStateX.syntaxError, 'cannot insert multiple commands into a prepared statement');
  return all[0] ?? null;
}

/** The words of a statement, upper-cased, for the utility statements recognized without the parser. */
export function words(sql: string): string[] {
  return tokenize(sql).map((t) => (t.kind === 'word' ? t.text.toUpperCase() : t.kind === 'string' ? (t.value as string) : t.text));
}

/** Tokens with their kinds, for utility statements that need to tell strings from words. */
export function utilityTokens(sql: string): { kind: string; text: string; value: string }[] {
  return tokenize(sql).map((t) => ({ kind: t.kind, text: t.text, value: t.value ?? t.text }));
}

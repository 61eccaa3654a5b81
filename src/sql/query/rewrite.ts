// Rewrites of the normalized text of a query for the PostgreSQL syntax node-sql-parser's grammar does
// not read (or reads wrongly), into forms it does and the binder understands:
//   a - > b, a - > > b, a @ > b      → a -> b, a ->> b, a @> b (the normalizer splits the jsonb operators)
//   a IS [NOT] DISTINCT FROM b       → __ordo_is[not]distinct(a, b)
//   NATURAL [kind] JOIN t            → [kind] JOIN t USING (__ordo_natural__)
//   CROSS JOIN t                     → JOIN t   (it read `cross` as an alias; a JOIN without ON is a cross join)
//   substring(s FROM a [FOR b])      → substring(s, a [, b])
//   position(a IN s)                 → position(s, a)
//   $1::type                         → CAST($1 AS type)   (it reads `$1::jsonb -> …` as an error)
//   trim([LEADING|TRAILING|BOTH] [c] FROM s) → ltrim / rtrim / btrim(s [, c])
// Only the tokens of those forms change; the rest of the text is left as the normalizer wrote it.

import { utilityTokens } from '../normalize.js';
import { NATURAL_MARK } from './select.js';

type Tok = { readonly kind: string; readonly text: string };

const LEFT_STOP: ReadonlySet<string> = new Set(['and', 'or', 'not', 'when', 'then', 'else', 'case', 'select', 'where', 'on', 'having', 'by', 'distinct', 'return', 'returning', 'set', 'values']);
const RIGHT_STOP: ReadonlySet<string> = new Set([
  'and', 'or', 'then', 'when', 'else', 'end', 'from', 'where', 'group', 'order', 'limit', 'offset', 'having', 'as', 'asc', 'desc',
  'union', 'intersect', 'except', 'is', 'on', 'join', 'left', 'right', 'inner', 'full', 'cross', 'natural', 'using', 'nulls', 'for', 'window',
]);
const ALIAS_STOP: ReadonlySet<string> = new Set(['on', 'using', 'where', 'join', 'left', 'right', 'inner', 'full', 'cross', 'natural', 'group', 'order', 'limit', 'offset', 'having', 'union', 'intersect', 'except', 'window']);

const isWord = (t: Tok | undefined, w: string): boolean => t !== undefined && t.kind === 'word' && t.text.toLowerCase() === w;

/** True when the text may need a rewrite (a cheap test before tokenizing). */
function mayNeed(text: string): boolean {
  return / (distinct from|natural|cross join|substring \(|position \(|trim \(|\$\d+ order|\$\d+ ::|- >|@ >|< @) /.test(` ${text} `);
}

export function rewriteQueryText(text: string): string {
  if (!mayNeed(text)) return text;
  let toks: Tok[] = utilityTokens(text).map((t) => ({ kind: t.kind, text: t.text }));
  for (let guard = 0; guard < 1000; guard++) {
    const next = rewriteOnce(toks);
    if (next === null) break;
    toks = next;
  }
  return toks.map((t) => t.text).join(' ');
}

/** Operators the normalizer's tokenizer splits in two (it knows no jsonb operators): `- >` is `->`. */
const SPLIT_OPERATORS: Readonly<Record<string, string>> = { '- >': '->', '-> >': '->>', '@ >': '@>', '< @': '<@' };

function rewriteOnce(toks: Tok[]): Tok[] | null {
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i] as Tok;
    const joined = t.kind === 'op' && toks[i + 1]?.kind === 'op' ? SPLIT_OPERATORS[`${t.text} ${(toks[i + 1] as Tok).text}`] : undefined;
    if (joined !== undefined) return [...toks.slice(0, i), { kind: 'op', text: joined }, ...toks.slice(i + 2)];
    if (isWord(t, 'is')) {
      const negated = isWord(toks[i + 1], 'not');
      const d = i + (negated ? 2 : 1);
      if (isWord(toks[d], 'distinct') && isWord(toks[d + 1], 'from')) return distinctFrom(toks, i, d + 2, negated);
    }
    if (isWord(t, 'natural')) return natural(toks, i);
    if (t.kind === 'param' && toks[i + 1]?.text === '::' && toks[i + 2]?.kind === 'word') return paramCast(toks, i);
    if (t.kind === 'param' && isWord(toks[i + 1], 'order') && toks[i - 1]?.text === ',' && depthAt(toks, i) > 0) {
      // string_agg(x, $1 ORDER BY …): the grammar takes only a literal delimiter before ORDER BY.
      return [...toks.slice(0, i), { kind: 'string', text: `'\u0001ordo-param:${t.text.slice(1)}'` }, ...toks.slice(i + 1)];
    }
    if (isWord(t, 'cross') && isWord(toks[i + 1], 'join')) return [...toks.slice(0, i), ...toks.slice(i + 1)];
    if ((isWord(t, 'substring') || isWord(t, 'position') || isWord(t, 'trim')) && toks[i + 1]?.text === '(') {
      const r = specialCall(toks, i);
      if (r !== null) return r;
    }
  }
  return null;
}

/** Words that continue a type name: double precision, timestamp with time zone, character varying. */
const TYPE_WORDS: ReadonlySet<string> = new Set(['precision', 'with', 'without', 'time', 'zone', 'varying']);

function paramCast(toks: Tok[], at: number): Tok[] {
  let k = at + 3;
  while (toks[k]?.kind === 'word' && TYPE_WORDS.has((toks[k] as Tok).text.toLowerCase())) k++;
  if (toks[k]?.text === '(') {
    while (k < toks.length && toks[k]?.text !== ')') k++;
    k++;
  }
  return [...toks.slice(0, at), { kind: 'word', text: 'cast' }, { kind: 'op', text: '(' }, toks[at] as Tok, { kind: 'word', text: 'as' }, ...toks.slice(at + 2, k), { kind: 'op', text: ')' }, ...toks.slice(k)];
}

function depthAt(toks: readonly Tok[], at: number): number {
  let depth = 0;
  for (let i = 0; i < at; i++) depth += toks[i]?.text === '(' ? 1 : toks[i]?.text === ')' ? -1 : 0;
  return depth;
}

function distinctFrom(toks: Tok[], is: number, rightStart: number, negated: boolean): Tok[] {
  let depth = 0;
  let l = is - 1;
  for (; l >= 0; l--) {
    const t = toks[l] as Tok;
    if (t.text === ')') depth++;
    else if (t.text === '(') {
      if (depth === 0) break;
      depth--;
    } else if (depth === 0 && (t.text === ',' || (t.kind === 'word' && LEFT_STOP.has(t.text.toLowerCase())))) break;
  }
  depth = 0;
  let r = rightStart;
  for (; r < toks.length; r++) {
    const t = toks[r] as Tok;
    if (t.text === '(') depth++;
    else if (t.text === ')') {
      if (depth === 0) break;
      depth--;
    } else if (depth === 0 && (t.text === ',' || t.kind === 'semi' || (t.kind === 'word' && RIGHT_STOP.has(t.text.toLowerCase())))) break;
  }
  const fn = { kind: 'word', text: negated ? '__ordo_isnotdistinct' : '__ordo_isdistinct' };
  return [...toks.slice(0, l + 1), fn, { kind: 'op', text: '(' }, ...toks.slice(l + 1, is), { kind: 'op', text: ',' }, ...toks.slice(rightStart, r), { kind: 'op', text: ')' }, ...toks.slice(r)];
}

function natural(toks: Tok[], at: number): Tok[] {
  let j = at + 1;
  while (j < toks.length && !isWord(toks[j], 'join')) j++;
  let k = j + 1;
  // The joined item: a parenthesized subquery, or a (possibly qualified) name.
  if (toks[k]?.text === '(') {
    let depth = 0;
    for (; k < toks.length; k++) {
      if (toks[k]?.text === '(') depth++;
      else if (toks[k]?.text === ')' && --depth === 0) break;
    }
    k++;
  } else {
    k++;
    while (toks[k]?.text === '.' && k + 1 < toks.length) k += 2;
  }
  if (isWord(toks[k], 'as')) k += 2;
  else if (toks[k] !== undefined && (toks[k]?.kind === 'word' || toks[k]?.kind === 'qident') && !ALIAS_STOP.has((toks[k] as Tok).text.toLowerCase())) k++;
  const using: Tok[] = [{ kind: 'word', text: 'using' }, { kind: 'op', text: '(' }, { kind: 'word', text: NATURAL_MARK }, { kind: 'op', text: ')' }];
  return [...toks.slice(0, at), ...toks.slice(at + 1, k), ...using, ...toks.slice(k)];
}

/** substring(… FROM … FOR …), position(… IN …), trim(… FROM …) as plain calls; null when already plain. */
function specialCall(toks: Tok[], at: number): Tok[] | null {
  const open = at + 1;
  let depth = 0;
  let close = open;
  const parts: Tok[][] = [[]];
  const seps: string[] = [];
  for (let i = open; i < toks.length; i++) {
    const t = toks[i] as Tok;
    if (t.text === '(') {
      depth++;
      if (depth === 1) continue;
    } else if (t.text === ')') {
      depth--;
      if (depth === 0) {
        close = i;
        break;
      }
    }
    const w = t.kind === 'word' ? t.text.toLowerCase() : '';
    if (depth === 1 && (w === 'from' || w === 'for' || w === 'in' || t.text === ',')) {
      seps.push(w === '' ? ',' : w);
      parts.push([]);
      continue;
    }
    (parts.at(-1) as Tok[]).push(t);
  }
  const name = (toks[at] as Tok).text.toLowerCase();
  if (seps.every((s) => s === ',') && name !== 'trim') return null;
  const comma: Tok = { kind: 'op', text: ',' };
  const call = (fn: string, args: Tok[][]): Tok[] => [{ kind: 'word', text: fn }, { kind: 'op', text: '(' }, ...args.flatMap((a, i) => (i === 0 ? a : [comma, ...a])), { kind: 'op', text: ')' }];
  let replacement: Tok[];
  if (name === 'substring') {
    const [s = [], a = [], b] = parts;
    if (seps[0] === 'for') replacement = call('substring', [s, [{ kind: 'number', text: '1' }], a]);
    else replacement = call('substring', b === undefined ? [s, a] : [s, a, b]);
  } else if (name === 'position') {
    if (seps.length !== 1 || seps[0] !== 'in') return null;
    replacement = call('position', [parts[1] ?? [], parts[0] ?? []]);
  } else {
    // trim([LEADING|TRAILING|BOTH] [chars] FROM s) or trim(s [, chars])
    if (!seps.includes('from')) {
      if (seps.length === 0 && isWord(parts[0]?.[0], 'both')) return null;
      return [...toks.slice(0, at), ...call('btrim', parts), ...toks.slice(close + 1)];
    }
    const head = parts[0] ?? [];
    let fn = 'btrim';
    let chars = head;
    const first = head[0];
    if (isWord(first, 'leading') || isWord(first, 'trailing') || isWord(first, 'both')) {
      fn = isWord(first, 'leading') ? 'ltrim' : isWord(first, 'trailing') ? 'rtrim' : 'btrim';
      chars = head.slice(1);
    }
    replacement = call(fn, chars.length === 0 ? [parts[1] ?? []] : [parts[1] ?? [], chars]);
  }
  return [...toks.slice(0, at), ...replacement, ...toks.slice(close + 1)];
}

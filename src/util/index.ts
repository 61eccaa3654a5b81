// Small shared helpers: invariant checks and the error type that carries a SQLSTATE code.

/** SQLSTATE codes the engine raises; the wire layer passes them through unchanged. */
export const SqlState = {
  internalError: 'XX000',
  dataCorrupted: 'XX001',
  featureNotSupported: '0A000',
  invalidParameterValue: '22023',
  numericValueOutOfRange: '22003',
  divisionByZero: '22012',
  invalidTextRepresentation: '22P02',
  datatypeMismatch: '42804',
  undefinedColumn: '42703',
  uniqueViolation: '23505',
  notNullViolation: '23502',
  checkViolation: '23514',
  serializationFailure: '40001',
  raiseException: 'P0001',
  objectInUse: '55006',
  configFileError: 'F0000',
  adminShutdown: '57P01',
  queryCanceled: '57014',
  programLimitExceeded: '54000',
  invalidTransactionState: '25000',
} as const;
export type SqlStateCode = (typeof SqlState)[keyof typeof SqlState] | string;

/** An error a user can act on: a message and a SQLSTATE code. */
export class OrdoError extends Error {
  readonly code: SqlStateCode;
  constructor(code: SqlStateCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OrdoError';
    this.code = code;
  }
}

/** Fails loudly when an invariant of a core does not hold: a bug, never bad input. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`invariant violated: ${message}`);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * mulberry32: a small seeded PRNG. Every randomized test, simulation and benchmark draws from one of
 * these, so a seed reproduces a run exactly.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
export { crc32, repoRoot, schemaDir } from './files.js';

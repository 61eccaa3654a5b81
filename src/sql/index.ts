// Public surface of the SQL gateway: the Postgres wire-protocol server, the statement engine it runs
// on, and the pieces tests and tools use directly.

export { startPgServer, PgServerDefaults, AuthMethod, authMethod } from './server.js';
export type { PgServer, PgServerOptions } from './server.js';
export { SqlEngine, SqlError, EngineDefaults } from './engine.js';
export type { StatementResult, Prepared, EngineStats } from './engine.js';
export { Session, SessionLimits } from './session.js';
export type { SessionOptions } from './session.js';
export { splitAndNormalize, normalizeSingle } from './normalize.js';
export type { SplitStatement, LiftedLiteral, LiteralKind } from './normalize.js';
export { compileStatement } from './compile.js';
export type { Plan, ProgramPlan, ResultColumn, ParamSlot } from './compile.js';
export type { SqlType } from './types.js';

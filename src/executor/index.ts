// Public surface of the executor: the program language, its validator, declared key sets and the
// deterministic evaluator.

export type {
  BinaryOp,
  UnaryOp,
  FunctionName,
  Expr,
  KeyExpr,
  RangeExpr,
  KeySetExpr,
  Stmt,
  Program,
} from './program.js';
export { BinaryOps, UnaryOps, Functions, ProgramLimits } from './program.js';
export { validateProgram, validateParams } from './validate.js';
export { evaluateKeySets } from './keys.js';
export { executeProgram, compareValues, toText, formatFloat, relationNameOf } from './evaluate.js';
export type {
  DeclaredKeys,
  DeclaredKeySets,
  ReadView,
  ExecContext,
  ExecLimits,
  Write,
  TxnOutcome,
} from './evaluate.js';

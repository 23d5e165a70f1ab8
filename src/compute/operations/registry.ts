/**
 * The registry of statistics operations: the only operations a plan may name. A plan entry
 * whose `op` is not a key here is refused (`OPERATION_UNKNOWN`) before anything runs; there is
 * no other way for a job to make a client compute something. docs/compute.md lists the same
 * operations (a test keeps the two in step).
 */
import { correlationOperation } from './correlation.js';
import { countOperation } from './count.js';
import { crosstabOperation } from './crosstab.js';
import { histogramOperation } from './histogram.js';
import { meanOperation } from './mean.js';
import { maxOperation, minOperation } from './min-max.js';
import type { RegisteredOperation } from './operation.js';
import { quantilesOperation } from './quantiles.js';
import { sumOperation } from './sum.js';
import { stdOperation, varianceOperation } from './variance.js';

const operations: readonly RegisteredOperation[] = [
  countOperation,
  sumOperation,
  meanOperation,
  varianceOperation,
  stdOperation,
  minOperation,
  maxOperation,
  quantilesOperation,
  histogramOperation,
  crosstabOperation,
  correlationOperation,
];

const byName: ReadonlyMap<string, RegisteredOperation> = new Map(operations.map((op) => [op.name, op]));

/** The registered operation of this name, or undefined. */
export function findOperation(name: string): RegisteredOperation | undefined {
  return byName.get(name);
}

/** Every registered operation, in the order docs/compute.md lists them. */
export function listOperations(): readonly RegisteredOperation[] {
  return operations;
}

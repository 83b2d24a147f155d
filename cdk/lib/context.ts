// CDK context keys (`-c key=value`) that are not plain flags: their parsing and their errors.
// A bad value fails the synth with a message naming the key and the bad entry, instead of a
// CloudFormation error (or a silent default) at deploy time.

/** A context value the app refuses. */
export class ContextError extends Error {
  constructor(
    readonly key: string,
    problem: string,
  ) {
    super(`invalid context "${key}": ${problem}`);
    this.name = 'ContextError';
  }
}

export const RESERVED_CONCURRENCY_KEY = 'dispatcherReservedConcurrency';
/** Sized for bursts of tool calls; the account must keep 100 unreserved on top of every reservation. */
export const DEFAULT_DISPATCHER_RESERVED_CONCURRENCY = 100;
const RESERVED_CONCURRENCY = { min: 1, max: 1000 } as const;

/** `-c dispatcherReservedConcurrency=N` (a string from the CLI, a number from cdk.json or tests). */
export function parseReservedConcurrency(value: unknown): number {
  if (value === undefined) return DEFAULT_DISPATCHER_RESERVED_CONCURRENCY;
  const n = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  const { min, max } = RESERVED_CONCURRENCY;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new ContextError(RESERVED_CONCURRENCY_KEY, `${JSON.stringify(value)} is not an integer in ${min}..=${max}`);
  }
  return n;
}

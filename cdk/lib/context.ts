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

export const MCP_RESERVED_CONCURRENCY_KEY = 'mcpReservedConcurrency';
/**
 * Each MCP request holds one execution for as long as it runs, and a blocking tool call (a client
 * without the tasks extension) holds it until the tool ends, up to ASYNCTOOLS_MCP_MAX_WAIT_S.
 */
export const DEFAULT_MCP_RESERVED_CONCURRENCY = 50;

/** `-c mcp=false` leaves the MCP server (and its reply settler and consumer) out of the stack. */
export const MCP_KEY = 'mcp';

/**
 * `-c ownerScope=role`: who owns an assumed role's tasks (workers/src/dispatcher.rs OwnerScope).
 * `session` (the default): the caller, role and session name, so each person on a shared role or
 * IAM Identity Center permission set is their own owner. `role`: the role, for agent fleets that
 * restart under new session names; everyone who can assume the role then shares its tasks.
 */
export const OWNER_SCOPE_KEY = 'ownerScope';
export type OwnerScope = 'session' | 'role';

export function parseOwnerScope(value: unknown): OwnerScope {
  if (value === undefined) return 'session';
  if (value === 'session' || value === 'role') return value;
  throw new ContextError(OWNER_SCOPE_KEY, `${JSON.stringify(value)} is neither "session" nor "role"`);
}

/**
 * `-c maxOpenTasks=N` or `-c maxOpenTasks=off`: how many open tasks (submitted, result not yet
 * published) each principal may have; a submit past it is refused. The dispatcher and the MCP server
 * read it as ASYNCTOOLS_MAX_OPEN_TASKS (workers/hosts/src/lambda/env.rs DispatcherEnv::from_env).
 */
export const MAX_OPEN_TASKS_KEY = 'maxOpenTasks';
/**
 * The deployed default and the highest limit one may set: workers/src/limits.rs
 * DEFAULT_MAX_OPEN_TASKS and MAX_OPEN_TASKS_LIMIT (test/shared-constants.test.ts checks they agree).
 */
export const DEFAULT_MAX_OPEN_TASKS = 100;
export const MAX_OPEN_TASKS_LIMIT = 1000;
/** A principal's open tasks at most, or `off`: no limit. */
export type MaxOpenTasks = number | 'off';

export function parseMaxOpenTasks(value: unknown): MaxOpenTasks {
  if (value === undefined) return DEFAULT_MAX_OPEN_TASKS;
  if (value === 'off') return 'off';
  // A string from the CLI (`-c maxOpenTasks=25`), a number from cdk.json or the tests.
  const n = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_OPEN_TASKS_LIMIT) {
    throw new ContextError(MAX_OPEN_TASKS_KEY, `${JSON.stringify(value)} is neither "off" nor a whole number in 1..=${MAX_OPEN_TASKS_LIMIT}`);
  }
  return n;
}

/**
 * The value of ASYNCTOOLS_MAX_OPEN_TASKS: the number as text, or `off`. Checked again, so a stack
 * prop out of range fails the synth as the context would, not the function's start.
 */
export function maxOpenTasksEnv(value: MaxOpenTasks = DEFAULT_MAX_OPEN_TASKS): string {
  const checked = parseMaxOpenTasks(value);
  return checked === 'off' ? 'off' : String(checked);
}

/**
 * `-c taskIndexProjection=all`: what the task table's indexes hold. `keys` (the default): keys only,
 * the cheaper (docs/cost.md). `all`: whole records, as stacks deployed before keys-only had; it lets
 * such a stack with a retained table deploy this version without rebuilding its indexes (the code
 * reads records by id either way). See "Upgrading" in cdk/README.md.
 */
export const TASK_INDEX_PROJECTION_KEY = 'taskIndexProjection';
export type TaskIndexProjection = 'keys' | 'all';

export function parseTaskIndexProjection(value: unknown): TaskIndexProjection {
  if (value === undefined) return 'keys';
  if (value === 'keys' || value === 'all') return value;
  throw new ContextError(TASK_INDEX_PROJECTION_KEY, `${JSON.stringify(value)} is neither "keys" nor "all"`);
}

const RESERVED_CONCURRENCY = { min: 1, max: 1000 } as const;

/**
 * A reserved concurrency context value, e.g. `-c dispatcherReservedConcurrency=N` (a string from
 * the CLI, a number from cdk.json or tests); `fallback` when the key is not set.
 */
export function parseReservedConcurrency(value: unknown, key: string = RESERVED_CONCURRENCY_KEY, fallback = DEFAULT_DISPATCHER_RESERVED_CONCURRENCY): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  const { min, max } = RESERVED_CONCURRENCY;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new ContextError(key, `${JSON.stringify(value)} is not an integer in ${min}..=${max}`);
  }
  return n;
}

/** A boolean context value: `true`/`false` (text from the CLI, or JSON booleans); `fallback` when not set. */
export function parseFlag(value: unknown, key: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new ContextError(key, `${JSON.stringify(value)} is not true or false`);
}

// Lambda refuses a function whose environment variables total more than 4 KB, and the dispatcher, the
// sweeper and the MCP server carry every work queue URL and every reply queue URL
// (ASYNCTOOLS_WORK_QUEUES, ASYNCTOOLS_REPLY_QUEUES). The URLs are only known at deploy time, so this bounds them from above
// and refuses, at synth, a catalog and consumer list that might not deploy.
// A tool worker carries every reply queue URL too, and a `lambda` or `http` tool's worker also its
// target (a URL may be 2048 characters): checkWorkerEnvironmentSize bounds each worker's.
import type { ToolSpec } from './catalog';
import { ContextError } from './context';
import { CONSUMERS_KEY } from './consumers';
import { TARGET_VARIABLES, toolTargetEnvironment } from './tool-worker';

/** Lambda's limit on the total size of a function's environment variables. */
export const LAMBDA_ENV_LIMIT_BYTES = 4096;
/** https://sqs.<region>.amazonaws.com[.cn]/<account>/<queue name, at most 80 characters>, region up to 14. */
export const MAX_QUEUE_URL_LENGTH = 'https://sqs.ap-southeast-5.amazonaws.com.cn/123456789012/'.length + 80;
/**
 * The other variables of each of those functions (names and values, the table name at most 255),
 * rounded up. The largest set is the MCP server's (test/mcp.test.ts checks it fits).
 */
export const OTHER_VARIABLES_BYTES = 512;

/** The functions that carry both queue maps, as the refusal names them. */
export const QUEUE_MAP_CARRIERS = ['dispatcher', 'sweeper'] as const;

/** An upper bound of `{"name":"url",...}` for these names. */
export function queueMapBytes(names: readonly string[]): number {
  return 2 + names.reduce((sum, name) => sum + name.length + MAX_QUEUE_URL_LENGTH + 6, 0);
}

/**
 * Throws when the environment of a function carrying both queue maps (the dispatcher, the sweeper,
 * and the MCP server when it is deployed: `carriers`) might exceed Lambda's limit.
 */
export function checkEnvironmentSize(
  tools: readonly string[],
  consumers: readonly string[],
  carriers: readonly string[] = QUEUE_MAP_CARRIERS,
): void {
  const bytes = OTHER_VARIABLES_BYTES + queueMapBytes(tools) + queueMapBytes(consumers);
  if (bytes > LAMBDA_ENV_LIMIT_BYTES) {
    throw new ContextError(
      CONSUMERS_KEY,
      `${consumers.length} consumers and ${tools.length} tools: the ${possessives(carriers)} queue URLs could take ` +
        `${bytes} bytes of environment, more than Lambda's ${LAMBDA_ENV_LIMIT_BYTES}; use fewer consumers`,
    );
  }
}

/** `dispatcher's, the sweeper's and the MCP server's` (after a leading `the`). */
function possessives(names: readonly string[]): string {
  const all = names.map((n) => `${n}'s`);
  return all.length < 2 ? all.join('') : `${all.slice(0, -1).join(', the ')} and the ${all[all.length - 1]}`;
}

/**
 * Throws when a tool worker's environment might exceed Lambda's limit: its own variables (table,
 * tool, work queue: within OTHER_VARIABLES_BYTES, as the dispatcher's; test/tool-kinds.test.ts
 * checks it), the reply queue map, and the tool's target variables (ASYNCTOOLS_TOOL_FUNCTION,
 * ASYNCTOOLS_TOOL_URL, ASYNCTOOLS_TOOL_AUTH_SECRET), whose values are known at synth. Without a
 * target (a builtin tool) the dispatcher's bound, checked first, already covers it: the dispatcher
 * carries the same map and more.
 */
export function checkWorkerEnvironmentSize(tool: ToolSpec, consumers: readonly string[]): void {
  const target = Object.entries(toolTargetEnvironment(tool));
  const targetBytes = target.reduce((sum, [k, v]) => sum + k.length + v.length, 0);
  const bytes = OTHER_VARIABLES_BYTES + queueMapBytes(consumers) + targetBytes;
  if (bytes > LAMBDA_ENV_LIMIT_BYTES) {
    // Named by their catalog keys, longest first: the one to shorten.
    const values = target
      .map(([variable, value]) => ({ key: Object.entries(TARGET_VARIABLES).find(([, v]) => v === variable)?.[0] ?? variable, length: value.length }))
      .sort((a, b) => b.length - a.length);
    throw new ContextError(
      CONSUMERS_KEY,
      `${consumers.length} consumers and tool "${tool.name}": the worker's reply queue URLs and its ` +
        `${values.map((v) => `${v.key} (${v.length} characters)`).join(' and ')} could take ${bytes} bytes of environment, ` +
        `more than Lambda's ${LAMBDA_ENV_LIMIT_BYTES}; use fewer consumers or a shorter ${values[0]?.key ?? 'target'}`,
    );
  }
}

// The consumers of task results: each gets its own reply queue, optionally readable by an IAM
// principal outside this stack. Read from the CDK context key `consumers`, either
//   -c consumers=default,agents                                   names only, or
//   -c consumers='{"default": null, "agents": "arn:aws:iam::123456789012:role/AgentRole"}'
// (name → principal ARN or null). The names are a contract with workers/ (ASYNCTOOLS_REPLY_QUEUES).
import { pascalCase } from './catalog';
import { ContextError } from './context';

export const CONSUMERS_KEY = 'consumers';
export const DEFAULT_CONSUMERS: readonly Consumer[] = [{ name: 'default', pascalName: 'Default' }];
/** The MCP server's consumer: its reply settler (not a principal of the user's) reads this queue. */
export const MCP_CONSUMER = 'mcp';
/** Each consumer adds two queues, an alarm and two outputs; CloudFormation allows 200 outputs. */
export const MAX_CONSUMERS = 50;
/** A consumer name: 1 to `limits::MAX_CONSUMER_NAME_CHARS` of a-z 0-9 '-' (workers/src/protocol.rs check_consumer_name). */
export const NAME_PATTERN = /^[a-z0-9-]{1,32}$/;
/** An IAM role, user or account root: the principals a queue policy can name. No wildcards. */
const PRINCIPAL_PATTERN = /^arn:aws[a-z-]*:iam::\d{12}:(root|(role|user)\/[\w+=,.@/-]+)$/;

export interface Consumer {
  readonly name: string;
  /** Also allowed to receive from and delete on this consumer's reply queue. @default none */
  readonly principalArn?: string;
  /** `agents` → `Agents`: construct ids and output keys. */
  readonly pascalName: string;
}

/** The `consumers` context value (undefined → `default` only). Throws a ContextError. */
export function parseConsumers(value: unknown): readonly Consumer[] {
  if (value === undefined) return DEFAULT_CONSUMERS;
  const entries = toEntries(value);
  const fail = (problem: string): never => {
    throw new ContextError(CONSUMERS_KEY, problem);
  };
  if (entries.length === 0) fail('no consumer names (e.g. -c consumers=default)');
  if (entries.length > MAX_CONSUMERS) fail(`${entries.length} consumers; at most ${MAX_CONSUMERS}`);

  const byPascal = new Map<string, string>();
  return entries.map(([name, principal]) => {
    if (!NAME_PATTERN.test(name) || pascalCase(name) === '') {
      fail(`consumer ${JSON.stringify(name)}: a name is 1 to 32 lowercase letters, digits and '-'`);
    }
    // Names become output keys in PascalCase, so `a-b` and `a--b` (both `AB`) would collide.
    const pascalName = pascalCase(name);
    const other = byPascal.get(pascalName);
    if (other === name) fail(`consumer ${JSON.stringify(name)} is listed twice`);
    if (other !== undefined) fail(`consumer ${JSON.stringify(name)} maps to the same output key (${pascalName}) as ${JSON.stringify(other)}`);
    byPascal.set(pascalName, name);

    if (principal === null || principal === undefined) return { name, pascalName };
    if (typeof principal !== 'string' || !PRINCIPAL_PATTERN.test(principal)) {
      fail(`consumer ${JSON.stringify(name)}: principal ${JSON.stringify(principal)} is not an IAM role, user or root ARN (arn:aws:iam::<account>:role/<name>), or null`);
    }
    return { name, principalArn: principal as string, pascalName };
  });
}

/** [name, principal] pairs from a comma-separated list, a JSON object (text or parsed) or a list. */
function toEntries(value: unknown): [string, unknown][] {
  if (typeof value === 'string' && value.trim().startsWith('{')) {
    try {
      value = JSON.parse(value);
    } catch (e) {
      throw new ContextError(CONSUMERS_KEY, `not valid JSON (${(e as Error).message})`);
    }
  }
  if (typeof value === 'string') return value.split(',').map((name) => [name.trim(), null]);
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value.map((name) => [name, null]);
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return Object.entries(value);
  throw new ContextError(CONSUMERS_KEY, `${JSON.stringify(value)}: give names separated by commas, or a JSON object of name → principal ARN or null`);
}

/**
 * The consumer list with the MCP server's consumer (`mcp`) appended, unless already named. Named
 * with a principal, it is refused: the reply settler consumes that queue, and a second reader
 * would take results from it.
 */
export function withMcpConsumer(consumers: readonly Consumer[]): readonly Consumer[] {
  const named = consumers.find((c) => c.name === MCP_CONSUMER);
  if (named?.principalArn) {
    throw new ContextError(
      CONSUMERS_KEY,
      `consumer ${JSON.stringify(MCP_CONSUMER)} is the MCP server's (its reply settler reads that queue): give it no principal, or leave the MCP server out with -c mcp=false`,
    );
  }
  return named ? consumers : [...consumers, { name: MCP_CONSUMER, pascalName: pascalCase(MCP_CONSUMER) }];
}

// The per-stage targets of `lambda` and `http` tools: the CDK context key `toolTargets` overrides
// the catalog's `function`, `url` and `auth_secret` (the catalog's values are the defaults), e.g.
//   -c toolTargets='{"word-count": {"function": "arn:aws:lambda:eu-west-1:123456789012:function:word-count:prod"},
//                    "geocode": {"url": "https://geo.internal.example.com/v2", "auth_secret": "prod/geocode"}}'
// (a JSON object: text from the CLI, or an object from cdk.json and tests). The values follow the
// catalog's rules (lib/catalog.ts), and a key must belong to the tool's kind.
import { authSecretProblem, functionProblem, KIND_ONLY_KEYS, type ToolSpec, urlProblem } from './catalog';
import { ContextError } from './context';

export const TOOL_TARGETS_KEY = 'toolTargets';

/** The keys a stage may override, as written in the context (the catalog's names). */
export const TOOL_TARGET_KEYS = ['function', 'url', 'auth_secret'] as const;
type TargetKey = (typeof TOOL_TARGET_KEYS)[number];

/** One tool's overrides. */
export interface ToolTarget {
  readonly function?: string;
  readonly url?: string;
  readonly authSecret?: string;
}

/** Tool name → its overrides. */
export type ToolTargets = ReadonlyMap<string, ToolTarget>;

const PROBLEM: Record<TargetKey, (value: unknown) => string | undefined> = {
  function: functionProblem,
  url: urlProblem,
  auth_secret: authSecretProblem,
};

function fail(problem: string): never {
  throw new ContextError(TOOL_TARGETS_KEY, problem);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The `toolTargets` context value (undefined → no overrides): the shape and each value. Whether
 * the tools exist and take those keys is checked against the catalog by applyToolTargets.
 * Throws a ContextError naming the tool and the key.
 */
export function parseToolTargets(value: unknown): ToolTargets {
  if (value === undefined) return new Map();
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch (e) {
      fail(`not valid JSON (${(e as Error).message})`);
    }
  }
  if (!isObject(value)) {
    fail(`${JSON.stringify(value)} is not a JSON object of tool name → {"function" | "url" | "auth_secret": ...}`);
  }
  const targets = new Map<string, ToolTarget>();
  for (const [tool, overrides] of Object.entries(value)) {
    const label = `tool ${JSON.stringify(tool)}`;
    if (!isObject(overrides)) {
      fail(`${label}: ${JSON.stringify(overrides)} is not an object of ${TOOL_TARGET_KEYS.map((k) => `"${k}"`).join(', ')}`);
    }
    const target: { function?: string; url?: string; authSecret?: string } = {};
    for (const [key, v] of Object.entries(overrides)) {
      if (!(TOOL_TARGET_KEYS as readonly string[]).includes(key)) {
        fail(`${label}: ${JSON.stringify(key)} cannot be set per stage (only ${TOOL_TARGET_KEYS.map((k) => `"${k}"`).join(', ')})`);
      }
      const problem = PROBLEM[key as TargetKey](v);
      if (problem !== undefined) fail(`${label}: ${problem}`);
      if (key === 'auth_secret') target.authSecret = v as string;
      else target[key as 'function' | 'url'] = v as string;
    }
    targets.set(tool, target);
  }
  return targets;
}

/**
 * The catalog's tools with this stage's overrides applied. Refuses a tool the catalog does not
 * declare, and a key the tool's kind does not take (ContextError naming the tool and the key).
 */
export function applyToolTargets(tools: readonly ToolSpec[], targets: ToolTargets): readonly ToolSpec[] {
  const byName = new Map(tools.map((t) => [t.name, t]));
  for (const [name, target] of targets) {
    const tool = byName.get(name);
    if (tool === undefined) {
      fail(`tool ${JSON.stringify(name)} is not in the tool catalog (${tools.map((t) => t.name).join(', ')})`);
    }
    for (const key of TOOL_TARGET_KEYS) {
      const given = key === 'auth_secret' ? target.authSecret : target[key];
      if (given !== undefined && KIND_ONLY_KEYS[key] !== tool.kind) {
        fail(`tool ${JSON.stringify(name)}: ${key} is only for kind = "${KIND_ONLY_KEYS[key]}" (this tool is kind = "${tool.kind}")`);
      }
    }
  }
  return tools.map((tool) => {
    const target = targets.get(tool.name);
    return target === undefined ? tool : { ...tool, ...target };
  });
}

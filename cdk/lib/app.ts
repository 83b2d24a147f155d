// Builds the CDK app. bin/app.ts (the CLI) and the tests both call createApp, so the tests check
// the same app, feature flags and cdk-nag rules the CLI synthesizes.
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { AsyncToolsStack, type AsyncToolsStackProps } from './asynctools-stack';
import { CONSUMERS_KEY, parseConsumers } from './consumers';
import {
  DEFAULT_MCP_RESERVED_CONCURRENCY,
  MAX_OPEN_TASKS_KEY,
  MCP_KEY,
  MCP_RESERVED_CONCURRENCY_KEY,
  OWNER_SCOPE_KEY,
  TASK_INDEX_PROJECTION_KEY,
  parseFlag,
  parseMaxOpenTasks,
  parseOwnerScope,
  parseTaskIndexProjection,
  parseReservedConcurrency,
  RESERVED_CONCURRENCY_KEY,
} from './context';
import { parseToolTargets, TOOL_TARGETS_KEY } from './tool-targets';

export const STACK_ID = 'AsyncTools';

/**
 * Feature flags, set here rather than in cdk.json because unit tests construct `new App()` and
 * never read cdk.json: one place, same template.
 */
export const FEATURE_FLAGS: Record<string, unknown> = {
  '@aws-cdk/aws-iam:minimizePolicies': true,
  '@aws-cdk/core:checkSecretUsage': true,
  '@aws-cdk/core:validateSnapshotRemovalPolicy': true,
  // CDK's built-in CloudFormation rules fail the synth instead of warning. They run on CLI synths;
  // the unit tests skip them (CDK_VALIDATION=false) because they add seconds per synth.
  '@aws-cdk/core:validateAgainstDefaultRules': true,
};

export interface CreateAppOptions {
  /** Skip the cargo-lambda builds (tests, template checks): assets point at the sources. */
  readonly skipBundling?: boolean;
  /**
   * Extra context, as `-c key=value` would give. Read from it: `dev`, `alarmEmail`, `consumers`,
   * `dispatcherReservedConcurrency`, `maxOpenTasks`, `mcp`, `mcpReservedConcurrency`, `ownerScope`,
   * `taskIndexProjection`, `toolTargets`.
   */
  readonly context?: Record<string, unknown>;
  /** Overrides of the stack props (tests pass a temporary catalog). */
  readonly stackProps?: AsyncToolsStackProps;
  readonly outdir?: string;
}

export function createApp(options: CreateAppOptions = {}): { app: App; stack: AsyncToolsStack } {
  const app = new App({
    outdir: options.outdir,
    context: { ...FEATURE_FLAGS, ...options.context },
    // After the CLI's context, because the CLI refuses `-c aws:...` keys.
    postCliContext: options.skipBundling ? { 'aws:cdk:bundling-stacks': [] } : undefined,
  });
  // cdk-nag v3 is a validation plugin: any finding fails the synth (CLI and tests alike).
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

  const dev = ['true', true].includes(app.node.tryGetContext('dev'));
  const alarmEmail = app.node.tryGetContext('alarmEmail') as string | undefined;
  // These throw a ContextError naming the key and the bad entry.
  const consumers = parseConsumers(app.node.tryGetContext(CONSUMERS_KEY));
  const dispatcherReservedConcurrency = parseReservedConcurrency(app.node.tryGetContext(RESERVED_CONCURRENCY_KEY));
  const mcp = parseFlag(app.node.tryGetContext(MCP_KEY), MCP_KEY, true);
  const mcpReservedConcurrency = parseReservedConcurrency(
    app.node.tryGetContext(MCP_RESERVED_CONCURRENCY_KEY),
    MCP_RESERVED_CONCURRENCY_KEY,
    DEFAULT_MCP_RESERVED_CONCURRENCY,
  );
  const ownerScope = parseOwnerScope(app.node.tryGetContext(OWNER_SCOPE_KEY));
  const maxOpenTasks = parseMaxOpenTasks(app.node.tryGetContext(MAX_OPEN_TASKS_KEY));
  const taskIndexProjection = parseTaskIndexProjection(app.node.tryGetContext(TASK_INDEX_PROJECTION_KEY));
  // Checked against the catalog by the stack, which loads it.
  const toolTargets = parseToolTargets(app.node.tryGetContext(TOOL_TARGETS_KEY));
  const stack = new AsyncToolsStack(app, STACK_ID, {
    dev,
    alarmEmail,
    consumers,
    dispatcherReservedConcurrency,
    mcp,
    mcpReservedConcurrency,
    ownerScope,
    maxOpenTasks,
    taskIndexProjection,
    toolTargets,
    ...options.stackProps,
  });
  return { app, stack };
}

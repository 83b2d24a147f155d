// The AsyncTools stack: task table, per-tool queues and workers, per-consumer reply queues, the
// dispatcher, the sweeper, the MCP server (unless `-c mcp=false`), alarms and dashboard. Everything
// per tool comes from the catalog (adding a [[tools]] entry to workers/tools.toml adds its resources
// with no change here), everything per consumer from the `consumers` context. A `lambda` or `http`
// tool's target comes from the catalog, or from the stage's `toolTargets` context.
import * as path from 'node:path';
import { CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { AlarmTopic } from './alarm-topic';
import { Alarms } from './alarms';
import { type Catalog, loadCatalog, type ToolSpec } from './catalog';
import { type Consumer, DEFAULT_CONSUMERS, MCP_CONSUMER, withMcpConsumer } from './consumers';
import {
  DEFAULT_DISPATCHER_RESERVED_CONCURRENCY,
  DEFAULT_MAX_OPEN_TASKS,
  DEFAULT_MCP_RESERVED_CONCURRENCY,
  type MaxOpenTasks,
  type OwnerScope,
  type TaskIndexProjection,
} from './context';
import { OpsDashboard } from './dashboard';
import { Dispatcher } from './dispatcher';
import { checkEnvironmentSize, checkWorkerEnvironmentSize, QUEUE_MAP_CARRIERS } from './env-size';
import { McpServer, SETTLER_VISIBILITY_TIMEOUT } from './mcp-server';
import { ReplyQueues } from './reply-queues';
import { Sweeper } from './sweeper';
import { TaskTable } from './task-table';
import { applyToolTargets, type ToolTargets } from './tool-targets';
import { ToolWorker } from './tool-worker';

/** The cdk/ directory: relative paths in the props are resolved against it, not the cwd. */
export const CDK_ROOT = path.resolve(__dirname, '..');

/** The oldest open task may be this old before the alarm fires (past every normal retry). */
export const OLDEST_OPEN_TASK_ALARM_S = 15 * 60;

export interface AsyncToolsStackProps extends StackProps {
  /** @default ../workers/tools.toml */
  readonly catalogPath?: string;
  /**
   * The Rust package with the `dispatcher-lambda`, `worker-lambda`, `sweeper-lambda` and
   * `reply-settler-lambda` binaries. @default ../workers/hosts/Cargo.toml
   */
  readonly workersManifestPath?: string;
  /** The Rust package with the `mcp-lambda` binary. @default ../mcp/Cargo.toml */
  readonly mcpManifestPath?: string;
  /** A throwaway stack: the table and log groups are deleted with it. @default false */
  readonly dev?: boolean;
  /** @default one month */
  readonly logRetention?: logs.RetentionDays;
  /** Subscribe this address to the alarm topic. @default no subscription */
  readonly alarmEmail?: string;
  /** One reply queue each. @default one consumer, `default` */
  readonly consumers?: readonly Consumer[];
  /** @default 100 */
  readonly dispatcherReservedConcurrency?: number;
  /**
   * Deploy the MCP server (Function URL) and its reply settler, and add the consumer `mcp` unless
   * `consumers` names it. @default true
   */
  readonly mcp?: boolean;
  /** @default 50 */
  readonly mcpReservedConcurrency?: number;
  /** Who owns an assumed role's tasks: the caller's session, or the role (lib/context.ts). @default 'session' */
  readonly ownerScope?: OwnerScope;
  /**
   * Each principal's open tasks (submitted, result not yet published) at most, in 1..=1000, or
   * `off` for no limit; the dispatcher and the MCP server enforce it (lib/context.ts). @default 100
   */
  readonly maxOpenTasks?: MaxOpenTasks;
  /** What the task table's indexes hold (lib/context.ts). @default 'keys' */
  readonly taskIndexProjection?: TaskIndexProjection;
  /**
   * This stage's `function` / `url` / `auth_secret` per tool, over the catalog's (lib/tool-targets.ts).
   * @default none: the catalog's values
   */
  readonly toolTargets?: ToolTargets;
}

export class AsyncToolsStack extends Stack {
  /** The catalog as loaded. */
  readonly catalog: Catalog;
  /** The catalog's tools with this stage's `toolTargets` applied: what the workers call. */
  readonly tools: readonly ToolSpec[];

  constructor(scope: Construct, id: string, props: AsyncToolsStackProps = {}) {
    super(scope, id, {
      description: 'asynctools: asynchronous agentic tools (dispatcher, per-tool SQS queues and Rust workers, DynamoDB task table)',
      // No AWS::CDK::Metadata resource: the template holds only what the system needs.
      analyticsReporting: false,
      ...props,
    });
    this.catalog = loadCatalog(path.resolve(CDK_ROOT, props.catalogPath ?? '../workers/tools.toml'));
    this.tools = applyToolTargets(this.catalog.tools, props.toolTargets ?? new Map());
    const manifestPath = path.resolve(CDK_ROOT, props.workersManifestPath ?? '../workers/hosts/Cargo.toml');
    const dev = props.dev ?? false;
    const mcp = props.mcp ?? true;
    const consumers = mcp ? withMcpConsumer(props.consumers ?? DEFAULT_CONSUMERS) : (props.consumers ?? DEFAULT_CONSUMERS);
    checkEnvironmentSize(
      this.catalog.tools.map((t) => t.name),
      consumers.map((c) => c.name),
      mcp ? [...QUEUE_MAP_CARRIERS, 'MCP server'] : QUEUE_MAP_CARRIERS,
    );
    for (const tool of this.tools) checkWorkerEnvironmentSize(tool, consumers.map((c) => c.name));
    const common = {
      manifestPath,
      // Graviton (arm64): 20% cheaper per GB-second than x86_64, and these functions mostly wait
      // on DynamoDB and SQS, so they lose nothing. cargo-lambda cross-compiles it with zig from any
      // host (checked: `make synth` on x86_64 builds aarch64 binaries), no extra toolchain.
      architecture: lambda.Architecture.ARM_64,
      logRetention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      // Logs expire by retention anyway; a production stack keeps them for the post-mortem.
      logRemovalPolicy: dev ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    };

    const topic = new AlarmTopic(this, 'AlarmTopic', { email: props.alarmEmail }).topic;
    const alarms = new Alarms(new actions.SnsAction(topic));
    const table = new TaskTable(this, 'TaskTable', { dev, projection: props.taskIndexProjection ?? 'keys' });
    const maxOpenTasks = props.maxOpenTasks ?? DEFAULT_MAX_OPEN_TASKS;
    const replyQueues = new ReplyQueues(this, 'ReplyQueues', {
      consumers,
      alarms,
      // The MCP server's reply settler reads the `mcp` queue through an event source.
      visibilityTimeouts: mcp ? new Map([[MCP_CONSUMER, SETTLER_VISIBILITY_TIMEOUT]]) : undefined,
    });

    const tools = this.tools.map(
      (tool) => new ToolWorker(this, `Tool${tool.pascalName}`, { ...common, tool, table, replyQueues, alarms }),
    );
    const workQueues = new Map(tools.map((t) => [t.tool.name, t.workQueue]));

    const dispatcher = new Dispatcher(this, 'Dispatcher', {
      ...common,
      table,
      workQueues,
      replyQueues,
      ownerScope: props.ownerScope,
      maxOpenTasks,
      reservedConcurrency: props.dispatcherReservedConcurrency ?? DEFAULT_DISPATCHER_RESERVED_CONCURRENCY,
    });
    alarms.functionErrors(dispatcher, dispatcher.function, 'dispatcher');
    alarms.functionThrottles(dispatcher, dispatcher.function, 'dispatcher');
    alarms.functionUrl5xx(dispatcher, dispatcher.function, 'dispatcher');

    const sweeper = new Sweeper(this, 'Sweeper', { ...common, table, workQueues, replyQueues });
    alarms.oldestOpenTaskTooOld(sweeper, sweeper.metricOldestOpenTaskAge(), OLDEST_OPEN_TASK_ALARM_S);
    alarms.unfixableTasks(sweeper, sweeper.metricUnfixableTasks());
    alarms.functionErrors(sweeper, sweeper.function, 'sweeper');

    const mcpServer = mcp
      ? new McpServer(this, 'McpServer', {
          ...common,
          table,
          workQueues,
          replyQueues,
          ownerScope: props.ownerScope,
          maxOpenTasks,
          reservedConcurrency: props.mcpReservedConcurrency ?? DEFAULT_MCP_RESERVED_CONCURRENCY,
          mcpManifestPath: path.resolve(CDK_ROOT, props.mcpManifestPath ?? '../mcp/Cargo.toml'),
          workersManifestPath: manifestPath,
          alarms,
        })
      : undefined;

    new OpsDashboard(this, 'Operations', { tools, dispatcher: dispatcher.function, replyQueues, sweeper, mcpServer, alarms: alarms.all });

    // The keys `cdk deploy --outputs-file` writes under "AsyncTools" and the Rust CLI reads.
    const output = (key: string, value: string, description: string) =>
      new CfnOutput(this, key, { value, description });
    output('TaskTableName', table.table.tableName, 'DynamoDB task table');
    output('DispatcherUrl', dispatcher.url.url, 'Function URL of the dispatcher (AWS_IAM auth, SigV4)');
    output('DispatcherArn', dispatcher.function.functionArn, 'ARN of the dispatcher function');
    output('SweeperArn', sweeper.function.functionArn, 'ARN of the sweeper function');
    for (const t of tools) {
      output(`WorkQueueUrl${t.tool.pascalName}`, t.workQueue.queueUrl, `Work queue of the ${t.tool.name} tool`);
      output(`DeadLetterQueueUrl${t.tool.pascalName}`, t.deadLetterQueue.queueUrl, `DLQ of the ${t.tool.name} tool`);
    }
    // Which ReplyQueueUrl<Consumer> outputs to read: Pascal case alone does not give the names back.
    output('Consumers', [...replyQueues.byConsumer.values()].map(({ consumer }) => consumer.name).join(','), 'Consumer names, comma-separated');
    for (const { consumer, queues } of replyQueues.byConsumer.values()) {
      output(`ReplyQueueUrl${consumer.pascalName}`, queues.queue.queueUrl, `Reply queue of the ${consumer.name} consumer`);
      output(`ReplyDeadLetterQueueUrl${consumer.pascalName}`, queues.deadLetterQueue.queueUrl, `DLQ of the ${consumer.name} consumer's reply queue`);
    }
    if (mcpServer) {
      output('McpUrl', mcpServer.endpoint, 'MCP endpoint (Streamable HTTP; the Function URL + "mcp", AWS_IAM auth, SigV4)');
      output('McpFunctionArn', mcpServer.function.functionArn, 'ARN of the MCP server function');
    }
    output('Region', this.region, 'Region the stack is deployed in');
    output('AlarmTopicArn', topic.topicArn, 'SNS topic every alarm notifies: subscribe to it');
  }
}

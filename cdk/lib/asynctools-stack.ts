// The AsyncTools stack: task table, per-tool queues and workers, results queue, dispatcher, alarms
// and dashboard. Everything per tool comes from the catalog: adding a [[tools]] entry to
// workers/tools.toml adds its resources with no change here.
import * as path from 'node:path';
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { AlarmTopic } from './alarm-topic';
import { Alarms } from './alarms';
import { type Catalog, loadCatalog } from './catalog';
import { OpsDashboard } from './dashboard';
import { Dispatcher } from './dispatcher';
import { QueueWithDlq } from './queue-with-dlq';
import { TaskTable } from './task-table';
import { ToolWorker } from './tool-worker';

/** SQS's maximum; see the results queue below. */
export const RESULTS_MAX_RECEIVE_COUNT = 1000;

/** The cdk/ directory: relative paths in the props are resolved against it, not the cwd. */
export const CDK_ROOT = path.resolve(__dirname, '..');

export interface AsyncToolsStackProps extends StackProps {
  /** @default ../workers/tools.toml */
  readonly catalogPath?: string;
  /** The Rust package with the `dispatcher-lambda` and `worker-lambda` binaries. @default ../workers/Cargo.toml */
  readonly workersManifestPath?: string;
  /** A throwaway stack: the table and log groups are deleted with it. @default false */
  readonly dev?: boolean;
  /** @default one month */
  readonly logRetention?: logs.RetentionDays;
  /** Subscribe this address to the alarm topic. @default no subscription */
  readonly alarmEmail?: string;
}

export class AsyncToolsStack extends Stack {
  readonly catalog: Catalog;

  constructor(scope: Construct, id: string, props: AsyncToolsStackProps = {}) {
    super(scope, id, {
      description: 'asynctools: asynchronous agentic tools (dispatcher, per-tool SQS queues and Rust workers, DynamoDB task table)',
      // No AWS::CDK::Metadata resource: the template holds only what the system needs.
      analyticsReporting: false,
      ...props,
    });
    this.catalog = loadCatalog(path.resolve(CDK_ROOT, props.catalogPath ?? '../workers/tools.toml'));
    const manifestPath = path.resolve(CDK_ROOT, props.workersManifestPath ?? '../workers/Cargo.toml');
    const dev = props.dev ?? false;
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
    const table = new TaskTable(this, 'TaskTable', { dev });

    // Consumed by the agent side (`asynctools tasks watch`), not by a function here. One queue for
    // all conversations: a watcher puts other conversations' results back (visibility 0) and each
    // such look counts as a receive, hence SQS's maximum receive count (as `asynctools local up`).
    const results = new QueueWithDlq(this, 'ResultsQueue', {
      maxReceiveCount: RESULTS_MAX_RECEIVE_COUNT,
      visibilityTimeout: Duration.seconds(30),
    });
    alarms.deadLetterQueueNotEmpty(results, results.deadLetterQueue, 'results queue');

    const tools = this.catalog.tools.map(
      (tool) =>
        new ToolWorker(this, `Tool${tool.pascalName}`, {
          ...common,
          tool,
          table,
          resultsQueue: results.queue,
          alarms,
        }),
    );

    const dispatcher = new Dispatcher(this, 'Dispatcher', {
      ...common,
      table,
      workQueues: new Map(tools.map((t) => [t.tool.name, t.workQueue])),
      resultsQueue: results.queue,
    });
    alarms.functionErrors(dispatcher, dispatcher.function, 'dispatcher');
    alarms.functionThrottles(dispatcher, dispatcher.function, 'dispatcher');

    new OpsDashboard(this, 'Operations', {
      tools,
      dispatcher: dispatcher.function,
      resultsQueue: results.queue,
      resultsDeadLetterQueue: results.deadLetterQueue,
      alarms: alarms.all,
    });

    // The keys `cdk deploy --outputs-file` writes under "AsyncTools" and the Rust CLI reads.
    const output = (key: string, value: string, description: string) =>
      new CfnOutput(this, key, { value, description });
    output('TaskTableName', table.table.tableName, 'DynamoDB task table');
    output('ResultsQueueUrl', results.queue.queueUrl, 'SQS queue the results are delivered on');
    output('ResultsDeadLetterQueueUrl', results.deadLetterQueue.queueUrl, 'DLQ of the results queue');
    output('DispatcherUrl', dispatcher.url.url, 'Function URL of the dispatcher (AWS_IAM auth, SigV4)');
    output('DispatcherArn', dispatcher.function.functionArn, 'ARN of the dispatcher function');
    for (const t of tools) {
      output(`WorkQueueUrl${t.tool.pascalName}`, t.workQueue.queueUrl, `Work queue of the ${t.tool.name} tool`);
      output(`DeadLetterQueueUrl${t.tool.pascalName}`, t.deadLetterQueue.queueUrl, `DLQ of the ${t.tool.name} tool`);
    }
    output('Region', this.region, 'Region the stack is deployed in');
    output('AlarmTopicArn', topic.topicArn, 'SNS topic every alarm notifies: subscribe to it');
  }
}

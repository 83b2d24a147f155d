// Everything one catalog tool gets: its own work queue and DLQ, its own worker function reading
// that queue, and its alarms. Separate queues and concurrency per tool mean a slow tool can never
// starve a fast one.
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { Alarms } from './alarms';
import type { ToolSpec } from './catalog';
import { QueueWithDlq } from './queue-with-dlq';
import type { ReplyQueues } from './reply-queues';
import { RustLambda } from './rust-lambda';
import type { TaskTable } from './task-table';

/**
 * The worker keeps 20 s after a full-budget tool run (timeout_s) for its terminal write and result
 * publish, each bounded by the SDK operation timeout: the function's timeout is timeout_s + 20.
 * The same constant is `limits::WRITE_RESERVE_S` in workers/.
 */
export const WRITE_RESERVE_S = 20;

/**
 * AWS's advice for SQS event sources: a visibility timeout of at least 6 x the function timeout,
 * so that a message is not handed to a second worker while Lambda is still retrying a throttled
 * or slow batch.
 */
export const VISIBILITY_TIMEOUT_FACTOR = 6;

export interface ToolWorkerProps {
  readonly tool: ToolSpec;
  readonly table: TaskTable;
  readonly replyQueues: ReplyQueues;
  readonly manifestPath: string;
  readonly architecture: lambda.Architecture;
  readonly logRetention: logs.RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
  readonly alarms: Alarms;
}

export class ToolWorker extends Construct {
  readonly tool: ToolSpec;
  readonly workQueue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly function: lambda.Function;

  constructor(scope: Construct, id: string, props: ToolWorkerProps) {
    super(scope, id);
    const { tool } = props;
    this.tool = tool;
    const functionTimeout = Duration.seconds(tool.timeoutS + WRITE_RESERVE_S);
    // The queue's visibility holds from the poller's receive until the worker shortens it to
    // recovery_s (renewed by a heartbeat while the tool runs), so a batch Lambda is still retrying
    // after a throttle is not handed out twice.
    const visibilityTimeout = Duration.seconds(VISIBILITY_TIMEOUT_FACTOR * functionTimeout.toSeconds());

    const queues = new QueueWithDlq(this, 'WorkQueue', {
      visibilityTimeout,
      maxReceiveCount: tool.maxReceiveCount,
    });
    this.workQueue = queues.queue;
    this.deadLetterQueue = queues.deadLetterQueue;

    const worker = new RustLambda(this, 'Worker', {
      manifestPath: props.manifestPath,
      binaryName: 'worker-lambda',
      description: `asynctools worker for the "${tool.name}" tool: runs tasks from its work queue`,
      timeout: functionTimeout,
      memorySize: tool.memoryMb,
      environment: {
        ASYNCTOOLS_TABLE: props.table.table.tableName,
        ASYNCTOOLS_REPLY_QUEUES: props.replyQueues.environment,
        ASYNCTOOLS_TOOL: tool.name,
        ASYNCTOOLS_WORK_QUEUE: this.workQueue.queueUrl,
      },
      architecture: props.architecture,
      logRetention: props.logRetention,
      logRemovalPolicy: props.logRemovalPolicy,
    });
    this.function = worker.function;

    // The event source grants what consuming needs (receive, delete, attributes) including
    // ChangeMessageVisibility, which the worker's heartbeat uses to keep a running task hidden.
    this.function.addEventSource(
      new SqsEventSource(this.workQueue, {
        batchSize: tool.batchSize,
        maxConcurrency: tool.maxConcurrency,
        reportBatchItemFailures: true,
      }),
    );
    props.table.grantWorkerAccess(worker.role);
    props.replyQueues.grantSendToAll(worker.role);

    const what = `tool ${tool.name}`;
    const alarms = props.alarms;
    alarms.deadLetterQueueNotEmpty(this, this.deadLetterQueue, what);
    // Past two visibility timeouts a message has been retried at least once and is still not done
    // (or the backlog outgrows maxConcurrency); never below 15 minutes, so bursts do not page.
    const maxAgeS = Math.max(15 * 60, 2 * visibilityTimeout.toSeconds());
    alarms.oldestMessageTooOld(this, this.workQueue, what, maxAgeS);
    alarms.functionErrors(this, this.function, what);
    alarms.functionThrottles(this, this.function, what);
  }
}

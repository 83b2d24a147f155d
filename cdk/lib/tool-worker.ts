// Everything one catalog tool gets: its own work queue and DLQ, its own worker function reading
// that queue, and its alarms. Separate queues and concurrency per tool mean a slow tool can never
// starve a fast one. Every kind gets the same; a `lambda` tool's worker may also invoke its one
// function, an `http` tool's worker read its one auth secret (if it has one).
import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { Alarms } from './alarms';
import { FUNCTION_ARN_PATTERN, SECRET_ARN_PATTERN, type ToolSpec } from './catalog';
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

/** The worker's variables naming its target, keyed by the catalog key they carry. */
export const TARGET_VARIABLES = {
  function: 'ASYNCTOOLS_TOOL_FUNCTION',
  url: 'ASYNCTOOLS_TOOL_URL',
  auth_secret: 'ASYNCTOOLS_TOOL_AUTH_SECRET',
} as const;

/**
 * A tool's target, as the worker reads it: the effective values (the catalog's, or the stage's
 * `toolTargets`), as given. A builtin tool has none. The Rust worker takes these over the catalog
 * it embeds, so a stage's override needs no rebuild.
 */
export function toolTargetEnvironment(tool: ToolSpec): Record<string, string> {
  const env: Record<string, string> = {};
  if (tool.kind === 'lambda' && tool.function !== undefined) env[TARGET_VARIABLES.function] = tool.function;
  if (tool.kind === 'http' && tool.url !== undefined) env[TARGET_VARIABLES.url] = tool.url;
  if (tool.kind === 'http' && tool.authSecret !== undefined) env[TARGET_VARIABLES.auth_secret] = tool.authSecret;
  return env;
}

/**
 * The ARN IAM evaluates when the worker invokes `fn`: an ARN as given, a name as the function of
 * that name in the stack's account and region (where Lambda looks a bare name up).
 */
export function lambdaFunctionArn(scope: Construct, fn: string): string {
  if (FUNCTION_ARN_PATTERN.test(fn)) return fn;
  return Stack.of(scope).formatArn({ service: 'lambda', resource: 'function', resourceName: fn, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
}

/**
 * The ARN of secret `secret`: an ARN as given (in full, with its random suffix), a name as the
 * secret of that name in the stack's account and region. Secrets Manager appends `-` and 6 random
 * characters to a secret's name in its ARN, so a name matches `<name>-??????`: `?` is exactly one
 * character, so this is the one secret of that name, not `<name>-suffix` or another secret.
 */
export function secretArn(scope: Construct, secret: string): string {
  if (SECRET_ARN_PATTERN.test(secret)) return secret;
  return Stack.of(scope).formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: `${secret}-??????`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
}

export interface ToolWorkerProps {
  /** The tool, with the stage's `toolTargets` applied. */
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
        ...toolTargetEnvironment(tool),
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
    // Explicit statements rather than grantInvoke / grantRead on imported resources: grantInvoke
    // on an unqualified function adds `<arn>:*` (every version and alias), and a secret's grantRead
    // adds DescribeSecret. One action on one ARN each: an unqualified function or name is invoked
    // unqualified ($LATEST), which IAM checks against the unqualified ARN; a qualified ARN (version or
    // alias) is invoked with that qualifier, checked against exactly that ARN.
    if (tool.kind === 'lambda' && tool.function !== undefined) {
      worker.role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [lambdaFunctionArn(this, tool.function)] }),
      );
    }
    if (tool.kind === 'http' && tool.authSecret !== undefined) {
      // Secrets encrypted with the AWS managed key (aws/secretsmanager) need nothing more; a
      // customer managed key must allow this role kms:Decrypt in its key policy (README).
      worker.role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secretArn(this, tool.authSecret)] }),
      );
    }

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

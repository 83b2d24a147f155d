// The dispatcher: the Function URL agents call to submit, get, list and cancel tasks, and to
// reconcile the results they have not received. It writes the PENDING record, enqueues on the
// tool's work queue and answers at once with the task id.
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { type MaxOpenTasks, maxOpenTasksEnv, type OwnerScope } from './context';
import { queueUrlsJson } from './queue-with-dlq';
import type { ReplyQueues } from './reply-queues';
import { RustLambda } from './rust-lambda';
import type { TaskTable } from './task-table';

/** How long task records live (the table's TTL); the workers read it from the environment. */
export const TASK_TTL_DAYS = 7;

/** What code running the dispatcher (the dispatcher itself, the MCP server) reads and writes. */
export interface DispatcherResources {
  readonly table: TaskTable;
  /** Tool name → its work queue. */
  readonly workQueues: ReadonlyMap<string, sqs.IQueue>;
  readonly replyQueues: ReplyQueues;
  /** Who owns an assumed role's tasks (lib/context.ts). @default 'session' */
  readonly ownerScope?: OwnerScope;
  /**
   * Each principal's open tasks at most, or `off` (lib/context.ts); the places are items in the
   * table, taken at submit and given back by whoever publishes the result. @default 100
   */
  readonly maxOpenTasks?: MaxOpenTasks;
}

/** The environment the dispatcher code reads (workers/hosts/src/lambda/env.rs: DispatcherEnv). */
export function dispatcherEnvironment(scope: Construct, r: DispatcherResources): Record<string, string> {
  return {
    ASYNCTOOLS_TABLE: r.table.table.tableName,
    ASYNCTOOLS_WORK_QUEUES: queueUrlsJson(scope, r.workQueues),
    ASYNCTOOLS_REPLY_QUEUES: r.replyQueues.environment,
    ASYNCTOOLS_TASK_TTL_DAYS: String(TASK_TTL_DAYS),
    ASYNCTOOLS_OWNER_SCOPE: r.ownerScope ?? 'session',
    ASYNCTOOLS_MAX_OPEN_TASKS: maxOpenTasksEnv(r.maxOpenTasks),
  };
}

/** Exactly what the dispatcher code needs: the table, sending work, and publishing results it
 * settles itself (a task cancelled before it started). */
export function grantDispatcherRights(role: iam.IGrantable, r: DispatcherResources): void {
  r.table.grantDispatcherAccess(role);
  for (const queue of r.workQueues.values()) queue.grantSendMessages(role);
  r.replyQueues.grantSendToAll(role);
}

export interface DispatcherProps extends DispatcherResources {
  readonly table: TaskTable;
  /** Tool name → its work queue. */
  readonly workQueues: ReadonlyMap<string, sqs.IQueue>;
  readonly replyQueues: ReplyQueues;
  /** Bounds what a burst of callers can take from the account's pool (and what it can cost). */
  readonly reservedConcurrency: number;
  readonly manifestPath: string;
  readonly architecture: lambda.Architecture;
  readonly logRetention: logs.RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
}

export class Dispatcher extends Construct {
  readonly function: lambda.Function;
  readonly url: lambda.FunctionUrl;

  constructor(scope: Construct, id: string, props: DispatcherProps) {
    super(scope, id);
    const dispatcher = new RustLambda(this, 'Dispatcher', {
      manifestPath: props.manifestPath,
      binaryName: 'dispatcher-lambda',
      description: 'asynctools dispatcher: accepts tool calls, records them and enqueues them',
      // One conditional write and one SendMessage: well under a second; the rest is SDK retries.
      timeout: Duration.seconds(15),
      memorySize: 256,
      reservedConcurrentExecutions: props.reservedConcurrency,
      environment: dispatcherEnvironment(this, props),
      architecture: props.architecture,
      logRetention: props.logRetention,
      logRemovalPolicy: props.logRemovalPolicy,
    });
    this.function = dispatcher.function;

    grantDispatcherRights(dispatcher.role, props);

    // AWS_IAM: only principals whose IAM policy allows lambda:InvokeFunctionUrl on this function
    // (SigV4-signed requests) can call it; there is no public access.
    this.url = this.function.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.AWS_IAM });
  }
}

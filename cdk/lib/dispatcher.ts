// The dispatcher: the Function URL agents call to submit, get, list and cancel tasks. It writes the
// PENDING record, enqueues on the tool's work queue and answers at once with the task id.
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { RustLambda } from './rust-lambda';
import type { TaskTable } from './task-table';

/** How long task records live (the table's TTL); the workers read it from the environment. */
export const TASK_TTL_DAYS = 7;

export interface DispatcherProps {
  readonly table: TaskTable;
  /** Tool name → its work queue. */
  readonly workQueues: ReadonlyMap<string, sqs.IQueue>;
  readonly resultsQueue: sqs.IQueue;
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
    const queueUrls = Object.fromEntries([...props.workQueues].map(([tool, queue]) => [tool, queue.queueUrl]));

    const dispatcher = new RustLambda(this, 'Dispatcher', {
      manifestPath: props.manifestPath,
      binaryName: 'dispatcher-lambda',
      description: 'asynctools dispatcher: accepts tool calls, records them and enqueues them',
      // One conditional write and one SendMessage: well under a second; the rest is SDK retries.
      timeout: Duration.seconds(15),
      memorySize: 256,
      environment: {
        ASYNCTOOLS_TABLE: props.table.table.tableName,
        // A JSON object of tool name → queue URL; the URLs are deploy-time tokens, hence toJsonString.
        ASYNCTOOLS_WORK_QUEUES: Stack.of(this).toJsonString(queueUrls),
        ASYNCTOOLS_RESULTS_QUEUE: props.resultsQueue.queueUrl,
        ASYNCTOOLS_TASK_TTL_DAYS: String(TASK_TTL_DAYS),
      },
      architecture: props.architecture,
      logRetention: props.logRetention,
      logRemovalPolicy: props.logRemovalPolicy,
    });
    this.function = dispatcher.function;

    props.table.grantDispatcherAccess(dispatcher.role);
    for (const queue of props.workQueues.values()) queue.grantSendMessages(dispatcher.role);
    // Results the dispatcher settles itself (a task cancelled before it started) go out directly.
    props.resultsQueue.grantSendMessages(dispatcher.role);

    // AWS_IAM: only principals whose IAM policy allows lambda:InvokeFunctionUrl on this function
    // (SigV4-signed requests) can call it; there is no public access.
    this.url = this.function.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.AWS_IAM });
  }
}

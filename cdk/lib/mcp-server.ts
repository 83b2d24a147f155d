// The MCP front door (issue 11): the MCP server (Model Context Protocol, Streamable HTTP at `/mcp`)
// behind a Function URL, and the reply settler, the `mcp` consumer's router.
//
// The server is stateless: it runs the dispatcher's code (it creates, reads and cancels tasks in the
// table and enqueues them), so it gets exactly the dispatcher's grants. Its clients read results
// from the table (`tasks/get`, `task_results`), and the server marks each delivered when it hands it
// over, so nobody needs the results on the `mcp` reply queue: the settler only checks that each
// message's task is in the table, finished, and the event source deletes the message.
import { Duration, Fn, RemovalPolicy } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { Alarms } from './alarms';
import { MCP_CONSUMER } from './consumers';
import { type DispatcherResources, dispatcherEnvironment, grantDispatcherRights } from './dispatcher';
import type { ReplyQueues } from './reply-queues';
import { RustLambda } from './rust-lambda';
import type { TaskTable } from './task-table';
import { VISIBILITY_TIMEOUT_FACTOR } from './tool-worker';

/** Where the MCP server answers, under its Function URL (which ends with `/`). */
export const MCP_PATH = 'mcp';

/**
 * Lambda's maximum: a blocking `tools/call` from a client without the tasks extension waits for
 * the tool (streaming progress notifications over SSE meanwhile).
 */
export const MCP_TIMEOUT = Duration.seconds(900);
/**
 * The server stops waiting this long before the function's timeout and tells the client to poll
 * the task instead (ASYNCTOOLS_MCP_MAX_WAIT_S = timeout - this), so the answer still gets out.
 */
export const MCP_WAIT_MARGIN_S = 30;

/** One GetItem and one conditional PutItem per message, ten messages a batch. */
export const SETTLER_TIMEOUT = Duration.seconds(30);
/** Messages per settler invocation: SQS's maximum receive (`limits::MAX_RECEIVE_BATCH`). */
export const SETTLER_BATCH_SIZE = 10;
/** The settler's event source concurrency: the minimum, settling is a bookkeeping write, never urgent. */
export const SETTLER_MAX_CONCURRENCY = 2;
/**
 * The `mcp` reply queue's visibility timeout. AWS requires at least the function's timeout for an
 * event source and advises 6 x (as the work queues have), so that a batch Lambda is still retrying
 * after a throttle is not handed out twice. A message the settler fails on waits this long before
 * its retry: harmless, clients read the task from the table, not from this queue.
 */
export const SETTLER_VISIBILITY_TIMEOUT = Duration.seconds(VISIBILITY_TIMEOUT_FACTOR * SETTLER_TIMEOUT.toSeconds());

export interface McpServerProps extends DispatcherResources {
  readonly table: TaskTable;
  /** Tool name → its work queue. */
  readonly workQueues: ReadonlyMap<string, sqs.IQueue>;
  /** Must include the `mcp` consumer (withMcpConsumer), with SETTLER_VISIBILITY_TIMEOUT. */
  readonly replyQueues: ReplyQueues;
  /** Bounds the executions MCP requests (and blocking tool calls) may hold. */
  readonly reservedConcurrency: number;
  /** mcp/Cargo.toml: the package with the `mcp-lambda` binary. */
  readonly mcpManifestPath: string;
  /** workers/hosts/Cargo.toml: the package with the `reply-settler-lambda` binary. */
  readonly workersManifestPath: string;
  readonly architecture: lambda.Architecture;
  readonly logRetention: logs.RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
  readonly alarms: Alarms;
}

export class McpServer extends Construct {
  /** The MCP server. */
  readonly function: lambda.Function;
  readonly url: lambda.FunctionUrl;
  /** The MCP endpoint clients use: the Function URL followed by `mcp`. */
  readonly endpoint: string;
  /** The `mcp` consumer's router: accounts for the results on its reply queue (read-only). */
  readonly settler: lambda.Function;

  constructor(scope: Construct, id: string, props: McpServerProps) {
    super(scope, id);
    const replies = props.replyQueues.byConsumer.get(MCP_CONSUMER);
    if (!replies) throw new Error(`McpServer: the reply queues have no "${MCP_CONSUMER}" consumer (use withMcpConsumer)`);
    // AWS refuses an event source on a queue whose visibility timeout is shorter than the function's.
    if (props.replyQueues.visibilityTimeout(MCP_CONSUMER).toSeconds() < SETTLER_TIMEOUT.toSeconds()) {
      throw new Error(`McpServer: the "${MCP_CONSUMER}" reply queue's visibility timeout must be at least the settler's ${SETTLER_TIMEOUT.toSeconds()} s`);
    }
    const common = { architecture: props.architecture, logRetention: props.logRetention, logRemovalPolicy: props.logRemovalPolicy };

    const server = new RustLambda(this, 'Server', {
      ...common,
      manifestPath: props.mcpManifestPath,
      binaryName: 'mcp-lambda',
      description: 'asynctools MCP server: the tools over the Model Context Protocol, with the tasks extension',
      timeout: MCP_TIMEOUT,
      memorySize: 256,
      reservedConcurrentExecutions: props.reservedConcurrency,
      environment: {
        ...dispatcherEnvironment(this, props),
        ASYNCTOOLS_MCP_CONSUMER: MCP_CONSUMER,
        ASYNCTOOLS_MCP_MAX_WAIT_S: String(MCP_TIMEOUT.toSeconds() - MCP_WAIT_MARGIN_S),
      },
    });
    this.function = server.function;
    // The dispatcher's grants, no more: it runs the dispatcher's code.
    grantDispatcherRights(server.role, props);
    // AWS_IAM: SigV4-signed requests from principals allowed lambda:InvokeFunctionUrl, no public
    // access. RESPONSE_STREAM: a call that waits (block mode, tasks/result) streams progress
    // notifications (SSE) meanwhile, instead of one buffered answer at the end.
    this.url = this.function.addFunctionUrl({
      authType: lambda.FunctionUrlAuthType.AWS_IAM,
      invokeMode: lambda.InvokeMode.RESPONSE_STREAM,
    });
    this.endpoint = Fn.join('', [this.url.url, MCP_PATH]);

    const settler = new RustLambda(this, 'ReplySettler', {
      ...common,
      manifestPath: props.workersManifestPath,
      binaryName: 'reply-settler-lambda',
      description: `asynctools reply settler: accounts for the "${MCP_CONSUMER}" consumer's results`,
      timeout: SETTLER_TIMEOUT,
      memorySize: 128,
      environment: {
        ASYNCTOOLS_TABLE: props.table.table.tableName,
        ASYNCTOOLS_CONSUMER: MCP_CONSUMER,
      },
    });
    this.settler = settler.function;
    // The event source grants what consuming needs (receive, delete, visibility, attributes) on
    // this one queue; settling is a GetItem.
    this.settler.addEventSource(
      new SqsEventSource(replies.queues.queue, {
        batchSize: SETTLER_BATCH_SIZE,
        reportBatchItemFailures: true,
        // The minimum: settling is a bookkeeping write, never urgent.
        maxConcurrency: SETTLER_MAX_CONCURRENCY,
      }),
    );
    props.table.grantItemRead(settler.role);

    const { alarms } = props;
    alarms.functionErrors(server, this.function, 'MCP server');
    alarms.functionThrottles(server, this.function, 'MCP server');
    alarms.functionUrl5xx(server, this.function, 'MCP server');
    // The `mcp` reply queue's DLQ is alarmed with every consumer's (ReplyQueues).
    alarms.functionErrors(settler, this.settler, 'MCP reply settler');
  }
}

// The sweeper: once a minute it reads the sparse `open_tasks` index and repairs what a crash left
// behind: it re-enqueues PENDING tasks older than ASYNCTOOLS_SWEEP_OLDER_THAN_S (lost enqueue) and
// RUNNING tasks whose lease expired (crashed worker), and publishes terminal tasks not yet
// published (crash between the terminal write and the publish; a result too large to publish is
// published as FAILED `result_too_large`). A task whose repair fails is set aside (the index's
// aside shard) and tried again every run, counted as UnfixableTasks, so it never stands in front
// of the others. Every run it logs one CloudWatch Embedded Metric Format line (SWEEPER_METRICS),
// which the stack alarms on.
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { queueUrlsJson } from './queue-with-dlq';
import type { ReplyQueues } from './reply-queues';
import { RustLambda } from './rust-lambda';
import type { TaskTable } from './task-table';

/** How old a PENDING task must be before the sweeper re-enqueues it (its enqueue may still be under way). */
export const SWEEP_OLDER_THAN_S = 60;

/**
 * The EMF contract with workers/ (the sweeper fills the `Stack` dimension from
 * ASYNCTOOLS_STACK_NAME). It must log OldestOpenTaskAgeSeconds on every run, 0 when nothing is
 * open: the age alarm treats missing data as a stopped sweeper.
 */
export const SWEEPER_METRICS = {
  namespace: 'AsyncTools',
  dimension: 'Stack',
  oldestOpenTaskAge: 'OldestOpenTaskAgeSeconds', // Seconds
  requeued: 'RequeuedTasks', // Count
  republished: 'RepublishedTasks', // Count
  resultTooLarge: 'ResultTooLargeTasks', // Count: published as FAILED result_too_large
  unfixable: 'UnfixableTasks', // Count: tasks whose repair failed this run (set aside)
} as const;

export interface SweeperProps {
  readonly table: TaskTable;
  /** Tool name → its work queue. */
  readonly workQueues: ReadonlyMap<string, sqs.IQueue>;
  readonly replyQueues: ReplyQueues;
  readonly manifestPath: string;
  readonly architecture: lambda.Architecture;
  readonly logRetention: logs.RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
}

export class Sweeper extends Construct {
  readonly function: lambda.Function;
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: SweeperProps) {
    super(scope, id);
    const stackName = Stack.of(this).stackName;
    const sweeper = new RustLambda(this, 'Sweeper', {
      manifestPath: props.manifestPath,
      binaryName: 'sweeper-lambda',
      description: 'asynctools sweeper: re-enqueues stalled tasks and publishes unpublished results',
      // One run must end before the next one starts.
      timeout: Duration.seconds(60),
      memorySize: 256,
      // One sweeper at a time: two would re-enqueue the same tasks twice.
      reservedConcurrentExecutions: 1,
      environment: {
        ASYNCTOOLS_TABLE: props.table.table.tableName,
        ASYNCTOOLS_WORK_QUEUES: queueUrlsJson(this, props.workQueues),
        ASYNCTOOLS_REPLY_QUEUES: props.replyQueues.environment,
        ASYNCTOOLS_SWEEP_OLDER_THAN_S: String(SWEEP_OLDER_THAN_S),
        ASYNCTOOLS_STACK_NAME: stackName,
      },
      architecture: props.architecture,
      logRetention: props.logRetention,
      logRemovalPolicy: props.logRemovalPolicy,
    });
    this.function = sweeper.function;
    // EventBridge invokes asynchronously. A run that is throttled (the previous one still going) or
    // fails is not worth retrying: the next scheduled run does the same work a minute later.
    this.function.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.seconds(60) });

    props.table.grantSweeperAccess(sweeper.role);
    for (const queue of props.workQueues.values()) queue.grantSendMessages(sweeper.role);
    props.replyQueues.grantSendToAll(sweeper.role);

    this.rule = new events.Rule(this, 'Schedule', {
      description: 'asynctools: run the sweeper every minute',
      schedule: events.Schedule.rate(Duration.minutes(1)),
      targets: [new targets.LambdaFunction(this.function, { retryAttempts: 0 })],
    });
  }

  /** The sweeper's age of the oldest open task, for the alarm and the dashboard. */
  metricOldestOpenTaskAge(): cloudwatch.Metric {
    return this.metric(SWEEPER_METRICS.oldestOpenTaskAge, 'Maximum');
  }

  /**
   * Tasks re-enqueued (lost enqueue, crashed worker), republished (lost publish), and of those the
   * results too large to publish (published as FAILED `result_too_large`), per minute.
   */
  metricRepairs(): { requeued: cloudwatch.Metric; republished: cloudwatch.Metric; resultTooLarge: cloudwatch.Metric } {
    return {
      requeued: this.metric(SWEEPER_METRICS.requeued, 'Sum'),
      republished: this.metric(SWEEPER_METRICS.republished, 'Sum'),
      resultTooLarge: this.metric(SWEEPER_METRICS.resultTooLarge, 'Sum'),
    };
  }

  /** Open tasks the sweeper could not repair in a run (it sets them aside and retries them each run). */
  metricUnfixableTasks(): cloudwatch.Metric {
    return this.metric(SWEEPER_METRICS.unfixable, 'Maximum');
  }

  private metric(metricName: string, statistic: string): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: SWEEPER_METRICS.namespace,
      metricName,
      dimensionsMap: { [SWEEPER_METRICS.dimension]: Stack.of(this).stackName },
      // No unit: an alarm with a unit ignores data points logged with another (or none), and would
      // then see "missing data", which the age alarm treats as breaching.
      period: Duration.minutes(1),
      statistic,
    });
  }
}

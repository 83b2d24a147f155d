// The alarms every queue and function gets. All notify the alarm topic, on ALARM and on OK.
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

const ONE_MINUTE = Duration.minutes(1);
const FIVE_MINUTES = Duration.minutes(5);

export class Alarms {
  readonly all: cloudwatch.Alarm[] = [];

  constructor(private readonly action: cloudwatch.IAlarmAction) {}

  /** Any message in a DLQ is a task that failed every retry: someone should look at it. */
  deadLetterQueueNotEmpty(scope: Construct, dlq: sqs.IQueue, what: string): cloudwatch.Alarm {
    return this.add(scope, 'DeadLetterQueueNotEmpty', {
      alarmDescription: `${what}: messages in the dead-letter queue (they failed every retry)`,
      metric: dlq.metricApproximateNumberOfMessagesVisible({ period: ONE_MINUTE, statistic: 'Maximum' }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
    });
  }

  /**
   * The oldest message has waited longer than `seconds`: the queue drains slower than it fills
   * (maxConcurrency too low, or the function failing) and tasks are late.
   */
  oldestMessageTooOld(scope: Construct, queue: sqs.IQueue, what: string, seconds: number): cloudwatch.Alarm {
    return this.add(scope, 'OldestMessageTooOld', {
      alarmDescription: `${what}: the oldest message has waited more than ${seconds} s for 3 minutes`,
      metric: queue.metricApproximateAgeOfOldestMessage({ period: ONE_MINUTE, statistic: 'Maximum' }),
      threshold: seconds,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
    });
  }

  /**
   * Invocation errors (panics, timeouts, a handler error). A tool's own failures are recorded on the
   * task and reported as batch item failures, so for a worker any error here is a bug.
   */
  functionErrors(scope: Construct, fn: lambda.IFunction, what: string): cloudwatch.Alarm {
    return this.add(scope, 'Errors', {
      alarmDescription: `${what}: function errors in the last 5 minutes`,
      metric: fn.metricErrors({ period: FIVE_MINUTES, statistic: 'Sum' }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
    });
  }

  /** Throttles: the account's (or a reserved) concurrency ran out; SQS will retry, the URL answers 429. */
  functionThrottles(scope: Construct, fn: lambda.IFunction, what: string): cloudwatch.Alarm {
    return this.add(scope, 'Throttles', {
      alarmDescription: `${what}: throttled invocations in the last 5 minutes`,
      metric: fn.metricThrottles({ period: FIVE_MINUTES, statistic: 'Sum' }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
    });
  }

  /**
   * The Function URL answered 5xx: the function failed, timed out or was throttled while a caller
   * waited (AWS/Lambda `Url5xxCount`, FunctionName dimension: the URL of the unqualified function).
   */
  functionUrl5xx(scope: Construct, fn: lambda.IFunction, what: string): cloudwatch.Alarm {
    return this.add(scope, 'Url5xx', {
      alarmDescription: `${what}: Function URL answered 5xx in the last 5 minutes`,
      metric: fn.metric('Url5xxCount', { period: FIVE_MINUTES, statistic: 'Sum' }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
    });
  }

  /**
   * The oldest open task (not yet terminal and published) is older than `seconds`, as the sweeper
   * measures it each minute. Missing data is BREACHING: no data means the sweeper has stopped,
   * and then nothing recovers crashed workers' tasks or unpublished results.
   */
  oldestOpenTaskTooOld(scope: Construct, metric: cloudwatch.IMetric, seconds: number): cloudwatch.Alarm {
    return this.add(scope, 'OldestOpenTaskTooOld', {
      alarmDescription: `the oldest open task is older than ${seconds} s for 2 minutes, or the sweeper reported nothing`,
      metric,
      threshold: seconds,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
  }

  /**
   * The sweeper could not repair some open task (its work or reply queue is gone, the table or a
   * queue refuses it) in each of 3 consecutive runs. Such tasks are set aside and retried every
   * run without delaying any other, but until someone fixes the cause their owners wait.
   * Missing data is not breaching: a stopped sweeper is the oldest-open-task alarm's to report.
   */
  unfixableTasks(scope: Construct, metric: cloudwatch.IMetric): cloudwatch.Alarm {
    return this.add(scope, 'UnfixableTasks', {
      alarmDescription: 'the sweeper could not repair some open tasks for 3 minutes (see `asynctools tasks stuck`: set_aside gives the reason)',
      metric,
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
    });
  }

  private add(scope: Construct, id: string, props: cloudwatch.AlarmProps): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(scope, `${id}Alarm`, {
      ...props,
      // By default no data means no messages or no invocations: healthy, not unknown.
      treatMissingData: props.treatMissingData ?? cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(this.action);
    alarm.addOkAction(this.action);
    this.all.push(alarm);
    return alarm;
  }
}

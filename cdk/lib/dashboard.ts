// One CloudWatch dashboard: alarm states, queue depth, task latency, errors and the sweeper's
// repairs; one line per tool and per consumer, and the MCP server's when it is deployed.
import { Aws, Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { McpServer } from './mcp-server';
import type { ReplyQueues } from './reply-queues';
import type { Sweeper } from './sweeper';
import type { ToolWorker } from './tool-worker';

export interface OpsDashboardProps {
  readonly tools: readonly ToolWorker[];
  readonly dispatcher: lambda.IFunction;
  readonly replyQueues: ReplyQueues;
  readonly sweeper: Sweeper;
  /** @default none: the stack was synthesized with `-c mcp=false` */
  readonly mcpServer?: McpServer;
  readonly alarms: readonly cloudwatch.IAlarm[];
}

const PERIOD = Duration.minutes(1);
const max = { period: PERIOD, statistic: 'Maximum' } as const;
const sum = { period: PERIOD, statistic: 'Sum' } as const;

export class OpsDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: OpsDashboardProps) {
    super(scope, id);
    const { tools, dispatcher, replyQueues, sweeper, mcpServer } = props;
    /** The MCP server's (and its settler's) lines, when it is deployed. */
    const mcp = (f: (m: McpServer) => cloudwatch.IMetric[]) => (mcpServer ? f(mcpServer) : []);
    const perTool = (f: (t: ToolWorker) => cloudwatch.IMetric, label: string) =>
      tools.map((t) => withLabel(f(t), `${t.tool.name} ${label}`));
    const replies = [...replyQueues.byConsumer.values()];
    const perConsumer = (f: (q: { queue: sqs.IQueue; deadLetterQueue: sqs.IQueue }) => cloudwatch.IMetric, label: string) =>
      replies.map(({ consumer, queues }) => withLabel(f(queues), `replies to ${consumer.name} ${label}`));
    const graph = (title: string, left: cloudwatch.IMetric[], unit = '') =>
      new cloudwatch.GraphWidget({ title, left, width: 8, height: 6, leftYAxis: { min: 0, label: unit } });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      // Dashboards are global to the account, so the region is in the name.
      dashboardName: `${Stack.of(this).stackName}-${Aws.REGION}`,
      defaultInterval: Duration.hours(3),
    });
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: [...props.alarms], width: 24, height: 4 }),
    );
    this.dashboard.addWidgets(
      graph('Queue depth: waiting tasks', [
        ...perTool((t) => t.workQueue.metricApproximateNumberOfMessagesVisible(max), 'waiting'),
        ...perConsumer((q) => q.queue.metricApproximateNumberOfMessagesVisible(max), 'waiting'),
      ], 'messages'),
      graph('Queue depth: tasks running (in flight)', perTool((t) => t.workQueue.metricApproximateNumberOfMessagesNotVisible(max), 'in flight'), 'messages'),
      graph('Dead-letter queues (should be 0)', [
        ...perTool((t) => t.deadLetterQueue.metricApproximateNumberOfMessagesVisible(max), 'DLQ'),
        ...perConsumer((q) => q.deadLetterQueue.metricApproximateNumberOfMessagesVisible(max), 'DLQ'),
      ], 'messages'),
    );
    this.dashboard.addWidgets(
      graph('Task latency: wait before a worker takes it (oldest message)', perTool((t) => t.workQueue.metricApproximateAgeOfOldestMessage(max), 'oldest'), 'seconds'),
      graph('Task latency: tool run time p50 / p99 (worker duration)', [
        ...perTool((t) => t.function.metricDuration({ period: PERIOD, statistic: 'p50' }), 'p50'),
        ...perTool((t) => t.function.metricDuration({ period: PERIOD, statistic: 'p99' }), 'p99'),
      ], 'ms'),
      graph('Dispatcher: acknowledgement latency', [
        withLabel(dispatcher.metricDuration({ period: PERIOD, statistic: 'p50' }), 'p50'),
        withLabel(dispatcher.metricDuration({ period: PERIOD, statistic: 'p99' }), 'p99'),
      ], 'ms'),
    );
    this.dashboard.addWidgets(
      graph('Errors', [
        ...perTool((t) => t.function.metricErrors(sum), 'errors'),
        withLabel(dispatcher.metricErrors(sum), 'dispatcher errors'),
        withLabel(sweeper.function.metricErrors(sum), 'sweeper errors'),
        ...mcp((m) => [withLabel(m.function.metricErrors(sum), 'MCP server errors'), withLabel(m.settler.metricErrors(sum), 'MCP reply settler errors')]),
      ], 'count'),
      graph('Throttles', [
        ...perTool((t) => t.function.metricThrottles(sum), 'throttles'),
        withLabel(dispatcher.metricThrottles(sum), 'dispatcher throttles'),
        ...mcp((m) => [withLabel(m.function.metricThrottles(sum), 'MCP server throttles')]),
      ], 'count'),
      graph('Invocations', [
        ...perTool((t) => t.function.metricInvocations(sum), 'worker'),
        withLabel(dispatcher.metricInvocations(sum), 'dispatcher'),
        ...mcp((m) => [withLabel(m.function.metricInvocations(sum), 'MCP server')]),
      ], 'count'),
    );
    const repairs = sweeper.metricRepairs();
    this.dashboard.addWidgets(
      graph('Oldest open task (sweeper; alarm above 15 min)', [
        withLabel(sweeper.metricOldestOpenTaskAge(), 'OldestOpenTaskAgeSeconds'),
      ], 'seconds'),
      graph('Sweeper repairs', [
        withLabel(repairs.requeued, 'RequeuedTasks'),
        withLabel(repairs.republished, 'RepublishedTasks'),
        withLabel(repairs.resultTooLarge, 'ResultTooLargeTasks'),
        withLabel(sweeper.metricUnfixableTasks(), 'UnfixableTasks (alarm: 3 minutes above 0)'),
      ], 'tasks'),
      graph('Function URL answers', [
        withLabel(dispatcher.metric('Url5xxCount', sum), 'dispatcher Url5xxCount'),
        withLabel(dispatcher.metric('Url4xxCount', sum), 'dispatcher Url4xxCount'),
        ...mcp((m) => [withLabel(m.function.metric('Url5xxCount', sum), 'MCP server Url5xxCount'), withLabel(m.function.metric('Url4xxCount', sum), 'MCP server Url4xxCount')]),
      ], 'count'),
    );
  }
}

function withLabel(metric: cloudwatch.IMetric, label: string): cloudwatch.IMetric {
  return metric instanceof cloudwatch.Metric ? metric.with({ label }) : metric;
}

// One reply queue (+ DLQ) per consumer: where the dispatcher, the workers and the sweeper publish
// finished tasks, each on the queue of the consumer that submitted it. A queue per consumer means a
// consumer never sees, nor has to skip, another consumer's results.
import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { Alarms } from './alarms';
import type { Consumer } from './consumers';
import { QueueWithDlq, queueUrlsJson } from './queue-with-dlq';

export const REPLY_QUEUE = {
  /** A consumer deletes a reply as soon as it has recorded it; 30 s covers a slow batch. */
  visibilityTimeout: Duration.seconds(30),
  /** A reply its consumer keeps failing to handle goes to the DLQ after this many receives. */
  maxReceiveCount: 10,
  /** SQS's default. A consumer that missed replies reconciles through the dispatcher (`undelivered` index). */
  retentionPeriod: Duration.days(4),
} as const;

/** What a consumer's own principal may do on its reply queue: consume it, nothing else. */
export const CONSUMER_ACTIONS = ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes'];

export interface ReplyQueuesProps {
  readonly consumers: readonly Consumer[];
  readonly alarms: Alarms;
  /**
   * Consumer name → its queue's visibility timeout, for a queue a Lambda event source reads (the
   * MCP server's reply settler): at least its function's timeout, which AWS requires.
   * @default REPLY_QUEUE.visibilityTimeout for every consumer
   */
  readonly visibilityTimeouts?: ReadonlyMap<string, Duration>;
}

export class ReplyQueues extends Construct {
  /** Consumer name → its reply queue and DLQ. */
  readonly byConsumer: ReadonlyMap<string, { consumer: Consumer; queues: QueueWithDlq }>;

  private readonly visibilityTimeouts: ReadonlyMap<string, Duration>;

  constructor(scope: Construct, id: string, props: ReplyQueuesProps) {
    super(scope, id);
    this.visibilityTimeouts = props.visibilityTimeouts ?? new Map();
    this.byConsumer = new Map(
      props.consumers.map((consumer) => {
        // Not the bare PascalCase name: a construct id `Default` is CDK's default child, which
        // changes logical ids.
        const queues = new QueueWithDlq(this, `Consumer${consumer.pascalName}`, {
          ...REPLY_QUEUE,
          visibilityTimeout: this.visibilityTimeout(consumer.name),
        });
        if (consumer.principalArn) {
          // Added to the queue policy enforceSSL created, so the TLS-only Deny still applies.
          queues.queue.addToResourcePolicy(
            new iam.PolicyStatement({
              sid: 'AllowConsumerToReceive',
              principals: [new iam.ArnPrincipal(consumer.principalArn)],
              actions: CONSUMER_ACTIONS,
              resources: [queues.queue.queueArn],
            }),
          );
        }
        props.alarms.deadLetterQueueNotEmpty(queues, queues.deadLetterQueue, `reply queue of consumer ${consumer.name}`);
        return [consumer.name, { consumer, queues }];
      }),
    );
  }

  /** The visibility timeout of a consumer's reply queue. */
  visibilityTimeout(consumer: string): Duration {
    return this.visibilityTimeouts.get(consumer) ?? REPLY_QUEUE.visibilityTimeout;
  }

  /** ASYNCTOOLS_REPLY_QUEUES: a JSON object of consumer name → reply queue URL. */
  get environment(): string {
    return queueUrlsJson(this, new Map([...this.byConsumer].map(([name, { queues }]) => [name, queues.queue])));
  }

  /** Every function that settles tasks may publish to every consumer's queue. */
  grantSendToAll(grantee: iam.IGrantable): void {
    for (const { queues } of this.byConsumer.values()) queues.queue.grantSendMessages(grantee);
  }

  get queues(): sqs.IQueue[] {
    return [...this.byConsumer.values()].map(({ queues }) => queues.queue);
  }

  get deadLetterQueues(): sqs.IQueue[] {
    return [...this.byConsumer.values()].map(({ queues }) => queues.deadLetterQueue);
  }
}

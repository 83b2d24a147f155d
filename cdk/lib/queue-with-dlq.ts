// A queue and its dead-letter queue, both encrypted and refusing non-TLS requests.
import { Duration, Stack } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface QueueWithDlqProps {
  /** Deliveries before a message moves to the DLQ. */
  readonly maxReceiveCount: number;
  /** @default 30 seconds (SQS's default) */
  readonly visibilityTimeout?: Duration;
  /** @default 4 days (SQS's default) */
  readonly retentionPeriod?: Duration;
}

export class QueueWithDlq extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: QueueWithDlqProps) {
    super(scope, id);
    // SQS-managed SSE: encrypted at rest with no key to manage and no KMS grants on the functions.
    const common = { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true } as const;
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      ...common,
      // The maximum, so that an operator back from a long weekend still finds the failed messages.
      retentionPeriod: Duration.days(14),
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      ...common,
      visibilityTimeout: props.visibilityTimeout,
      retentionPeriod: props.retentionPeriod,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount },
    });
  }
}

/**
 * A JSON object of name → queue URL for a function's environment (ASYNCTOOLS_WORK_QUEUES,
 * ASYNCTOOLS_REPLY_QUEUES). The URLs are deploy-time tokens, hence Stack.toJsonString.
 */
export function queueUrlsJson(scope: Construct, queues: ReadonlyMap<string, sqs.IQueue>): string {
  return Stack.of(scope).toJsonString(Object.fromEntries([...queues].map(([name, queue]) => [name, queue.queueUrl])));
}

// The task table: one item per task, keyed by task id, listed per conversation through a GSI.
// Names and key types are a contract with workers/ (its DynamoDB adapter and `asynctools local up`).
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

export const TASK_TABLE = {
  partitionKey: 'task_id',
  conversationIndex: 'by_conversation',
  conversationKey: 'conversation_id',
  createdKey: 'created_at_ms',
  ttlAttribute: 'expires_at',
} as const;

export interface TaskTableProps {
  /** Dev stacks are throwaway: DESTROY the table with the stack. Otherwise RETAIN (task history). */
  readonly dev: boolean;
}

export class TaskTable extends Construct {
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: TaskTableProps) {
    super(scope, id);
    // `Table` (AWS::DynamoDB::Table) rather than `TableV2`: cdk-nag's DDB3 check reads this type, and
    // switching later would replace the table.
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: TASK_TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: TASK_TABLE.ttlAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // AWS-managed key: key use shows in CloudTrail, nothing to rotate, and the functions need
      // no KMS grants (DynamoDB uses the key on their behalf).
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: props.dev ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
      deletionProtection: !props.dev,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: TASK_TABLE.conversationIndex,
      partitionKey: { name: TASK_TABLE.conversationKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TASK_TABLE.createdKey, type: dynamodb.AttributeType.NUMBER },
      projectionType: dynamodb.ProjectionType.ALL,
    });
  }

  /** The GSI's ARN, named exactly (no `index/*` wildcard). */
  get conversationIndexArn(): string {
    return `${this.table.tableArn}/index/${TASK_TABLE.conversationIndex}`;
  }

  /** Item reads and writes the worker needs: claim, transition and record a task. No queries. */
  grantWorkerAccess(grantee: iam.IGrantable): void {
    this.grantItems(grantee, ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']);
  }

  /** The dispatcher creates, reads, cancels and lists tasks. */
  grantDispatcherAccess(grantee: iam.IGrantable): void {
    // TransactWriteItems is not an IAM action: each item in a transaction is authorized by its own
    // action (Put/Update/ConditionCheckItem), so conditional writes and transactions need only these.
    // Query on the base table reads no more than GetItem already can (the key is the task id).
    this.grantItems(grantee, [
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:ConditionCheckItem',
      'dynamodb:Query',
    ]);
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['dynamodb:Query'], resources: [this.conversationIndexArn] }),
    );
  }

  private grantItems(grantee: iam.IGrantable, actions: string[]): void {
    grantee.grantPrincipal.addToPrincipalPolicy(new iam.PolicyStatement({ actions, resources: [this.table.tableArn] }));
  }
}

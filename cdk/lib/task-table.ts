// The task table: one item per task, keyed by task id, with three GSIs (all sorted by creation
// time). Names and key types are a contract with workers/ (its DynamoDB adapter and `asynctools
// local up`): keep them verbatim.
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import type { TaskIndexProjection } from './context';

export const TASK_TABLE = {
  partitionKey: 'task_id',
  /** The sort key of every index. */
  createdKey: 'created_at_ms',
  ttlAttribute: 'expires_at',
  indexes: {
    /** A caller's conversation: `owner_conversation` = `<owner>#<conversation>`. */
    byOwnerConversation: { name: 'by_owner_conversation', partitionKey: 'owner_conversation' },
    /** Sparse: tasks not yet terminal-and-published, spread over shards. The sweeper reads it. */
    openTasks: { name: 'open_tasks', partitionKey: 'open_shard' },
    /** Sparse: terminal tasks not yet handed to their consumer, keyed by consumer. */
    undelivered: { name: 'undelivered', partitionKey: 'undelivered_to' },
  },
} as const;
export type TaskIndex = keyof typeof TASK_TABLE.indexes;

export interface TaskTableProps {
  /** Dev stacks are throwaway: DESTROY the table with the stack. Otherwise RETAIN (task history). */
  readonly dev: boolean;
  /** What the indexes hold: `keys` (the default, cheaper) or `all` (lib/context.ts). */
  readonly projection: TaskIndexProjection;
}

// Item actions only. UpdateItem for the writes made without a read:
// - a worker's claim of a PENDING task, and the hand-over's delivered mark;
// - a principal's open-task places (`task_id = "open#<owner>"`, a string set of task ids:
//   workers/aws/src/dynamo/side_items.rs), taken at submit by the dispatcher and the MCP server, and
//   given back by whoever publishes the task's result: the worker, the dispatcher or the MCP server
//   (a cancel), and the sweeper (a result it republishes for a worker that died).
// So every role that writes the table has it. Every other write is a full conditional PutItem on the
// record's revision. No ConditionCheckItem: the only transaction (TransactWriteItems is not an IAM
// action; each item in it is authorized by its own action) holds Puts. No Query on the base table:
// its key is the task id, so GetItem already reads anything a Query could. BatchGetItem only for the
// roles that query an index (the indexes hold keys; a listed page's records are read by id).
const ITEM_READ_WRITE = ['dynamodb:GetItem', 'dynamodb:PutItem'];
const ITEM_UPDATE = ['dynamodb:UpdateItem'];
const LISTED_READ = ['dynamodb:BatchGetItem'];

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
    // Projection KEYS_ONLY: an index item then changes only when its key does, so the writes that
    // move a task along without changing an index key (claim, heartbeat, progress) cost no index
    // write, and a table write never rewrites a whole record (results up to 256 KiB) in an index.
    // Readers list ids from the index and BatchGetItem the records (docs/cost.md measures both).
    // Changing the projection replaces the index: see the upgrade note in cdk/README.md.
    for (const index of Object.values(TASK_TABLE.indexes)) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
        sortKey: { name: TASK_TABLE.createdKey, type: dynamodb.AttributeType.NUMBER },
        projectionType: props.projection === 'all' ? dynamodb.ProjectionType.ALL : dynamodb.ProjectionType.KEYS_ONLY,
      });
    }
  }

  /** A GSI's ARN, named exactly (no `index/*` wildcard). */
  indexArn(index: TaskIndex): string {
    return `${this.table.tableArn}/index/${TASK_TABLE.indexes[index].name}`;
  }

  /** The worker claims, transitions and records its task: item reads and writes, no queries. */
  grantWorkerAccess(grantee: iam.IGrantable): void {
    this.grant(grantee, { update: true, queryIndexes: [] });
  }

  /** Reads tasks by id, nothing else (the MCP reply settler checks a result is in the table). */
  grantItemRead(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['dynamodb:GetItem'], resources: [this.table.tableArn] }),
    );
  }

  /** The dispatcher creates, reads and cancels tasks, lists a conversation, and serves reconcile. */
  grantDispatcherAccess(grantee: iam.IGrantable): void {
    this.grant(grantee, { update: true, queryIndexes: ['byOwnerConversation', 'undelivered'] });
  }

  /**
   * The sweeper finds open tasks and re-enqueues or republishes them; publishing a result gives
   * its owner's open-task place back (UpdateItem). Without it the give-back is refused and the place
   * stays taken until the dispatcher takes it back at the owner's limit.
   */
  grantSweeperAccess(grantee: iam.IGrantable): void {
    this.grant(grantee, { update: true, queryIndexes: ['openTasks'] });
  }

  private grant(grantee: iam.IGrantable, rights: { update: boolean; queryIndexes: TaskIndex[] }): void {
    const principal = grantee.grantPrincipal;
    const { update, queryIndexes } = rights;
    const itemActions = [...ITEM_READ_WRITE, ...(update ? ITEM_UPDATE : []), ...(queryIndexes.length > 0 ? LISTED_READ : [])];
    principal.addToPrincipalPolicy(new iam.PolicyStatement({ actions: itemActions, resources: [this.table.tableArn] }));
    if (queryIndexes.length > 0) {
      principal.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['dynamodb:Query'], resources: queryIndexes.map((i) => this.indexArn(i)) }),
      );
    }
  }
}

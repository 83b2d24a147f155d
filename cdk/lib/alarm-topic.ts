// The SNS topic every alarm notifies (subscribe to it, or pass `-c alarmEmail=you@example.com`).
// Encrypted with a customer-managed key because CloudWatch cannot publish to a topic encrypted with
// the AWS-managed aws/sns key (its key policy cannot be changed to let CloudWatch in).
// https://repost.aws/knowledge-center/cloudwatch-configure-alarm-sns
import { Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

export interface AlarmTopicProps {
  readonly email?: string;
}

export class AlarmTopic extends Construct {
  readonly topic: sns.Topic;

  constructor(scope: Construct, id: string, props: AlarmTopicProps) {
    super(scope, id);
    const key = new kms.Key(this, 'Key', {
      description: 'asynctools: encrypts alarm notifications on the alarm topic',
      enableKeyRotation: true,
      // The key protects only notifications in transit through SNS, never stored data, so it goes
      // with the stack (after KMS's pending-deletion window) instead of costing money forever.
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    // The statement AWS documents for alarms on encrypted topics. In a key policy, Resource "*"
    // means "this key": a key policy cannot name anything narrower. No source conditions here: AWS
    // documents them for the topic policy below (which already admits only this account's alarms),
    // not for the KMS calls SNS makes on CloudWatch's behalf.
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToUseKey',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );

    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'asynctools alarms',
      masterKey: key,
      enforceSSL: true,
    });
    // enforceSSL replaces SNS's default topic policy, so CloudWatch needs an explicit grant, limited
    // to this account's alarms (confused-deputy protection).
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:*` },
        },
      }),
    );
    if (props.email) this.topic.addSubscription(new subs.EmailSubscription(props.email));
  }
}

// A Rust function built with cargo-lambda (from workers/ or mcp/), with its own role and log group.
// No managed policy (AWSLambdaBasicExecutionRole would allow writing to any log group): the role
// may write only to this function's log group, and callers add the few grants the code needs.
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { RustFunction } from 'cargo-lambda-cdk';
import { Construct } from 'constructs';

export interface RustLambdaProps {
  /** workers/hosts/Cargo.toml or mcp/Cargo.toml: the package whose binary this function runs. */
  readonly manifestPath: string;
  readonly binaryName: string;
  readonly description: string;
  readonly timeout: Duration;
  readonly memorySize: number;
  /** Caps (and guarantees) the function's concurrency. @default none: the account's shared pool */
  readonly reservedConcurrentExecutions?: number;
  readonly environment: Record<string, string>;
  readonly architecture: lambda.Architecture;
  readonly logRetention: logs.RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
}

export class RustLambda extends Construct {
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  readonly function: RustFunction;

  constructor(scope: Construct, id: string, props: RustLambdaProps) {
    super(scope, id);
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: props.description,
    });
    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetention,
      removalPolicy: props.logRemovalPolicy,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new RustFunction(this, 'Function', {
      manifestPath: props.manifestPath,
      binaryName: props.binaryName,
      runtime: 'provided.al2023',
      architecture: props.architecture,
      description: props.description,
      timeout: props.timeout,
      memorySize: props.memorySize,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      environment: props.environment,
      role: this.role,
      logGroup: this.logGroup,
      bundling: {
        // The workspace's release profile keeps line tables (for profiling); a Lambda package has
        // no use for them. Stripping takes a bootstrap from ~69 MB to ~13 MB (5.4 MB zipped), less
        // to fetch on each cold start. Panic messages keep their file:line (not debug info).
        environment: { CARGO_PROFILE_RELEASE_STRIP: 'debuginfo' },
      },
    });
  }
}

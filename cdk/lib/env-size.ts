// Lambda refuses a function whose environment variables total more than 4 KB, and the dispatcher and
// the sweeper carry every work queue URL and every reply queue URL (ASYNCTOOLS_WORK_QUEUES,
// ASYNCTOOLS_REPLY_QUEUES). The URLs are only known at deploy time, so this bounds them from above
// and refuses, at synth, a catalog and consumer list that might not deploy.
import { ContextError } from './context';
import { CONSUMERS_KEY } from './consumers';

/** Lambda's limit on the total size of a function's environment variables. */
export const LAMBDA_ENV_LIMIT_BYTES = 4096;
/** https://sqs.<region>.amazonaws.com[.cn]/<account>/<queue name, at most 80 characters>, region up to 14. */
export const MAX_QUEUE_URL_LENGTH = 'https://sqs.ap-southeast-5.amazonaws.com.cn/123456789012/'.length + 80;
/** The other variables (names and values, the table name at most 255), rounded up. */
const OTHER_VARIABLES_BYTES = 512;

/** An upper bound of `{"name":"url",...}` for these names. */
export function queueMapBytes(names: readonly string[]): number {
  return 2 + names.reduce((sum, name) => sum + name.length + MAX_QUEUE_URL_LENGTH + 6, 0);
}

/** Throws when the dispatcher's (or the sweeper's) environment might exceed Lambda's limit. */
export function checkEnvironmentSize(tools: readonly string[], consumers: readonly string[]): void {
  const bytes = OTHER_VARIABLES_BYTES + queueMapBytes(tools) + queueMapBytes(consumers);
  if (bytes > LAMBDA_ENV_LIMIT_BYTES) {
    throw new ContextError(
      CONSUMERS_KEY,
      `${consumers.length} consumers and ${tools.length} tools: the dispatcher's and the sweeper's queue URLs could take ` +
        `${bytes} bytes of environment, more than Lambda's ${LAMBDA_ENV_LIMIT_BYTES}; use fewer consumers`,
    );
  }
}

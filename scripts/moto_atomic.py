"""moto's server with DynamoDB writes made atomic, as DynamoDB's are, and a few of its costs cut.

moto serves requests on threads, and its DynamoDB backend checks a write's condition and then
applies it without a lock: two conditional PutItems on the same revision can both succeed (seen in
`make test`: two workers claimed one task, each "from PENDING"), and concurrent TransactWriteItems
answer 500. The pipeline's exactly-once claims rest on conditional writes being atomic, so the tests
run moto with one lock around every DynamoDB operation. SQS is untouched (its long polls must not
hold a lock).

moto is what most of `make test`'s moto-bound tests wait on, and a profile of the 1,000-task
pipeline test (py-spy) found a third of its time in work no answer depends on; each is cut here,
with the same answers:
- an SQS receive computed every attribute of the queue, counting its messages, three times for
  each message it handed out (to read the retention period): quadratic in the queue's length;
- SQS's clock read went through naive datetimes (a third of the rest);
- the server logged each request (to /dev/null in the tests), and listed moto's package directory
  on disk to route it;
- a DynamoDB Query on an index sorts the whole table first, comparing keys as DynamoTypes (a
  Python method call per comparison): the chaos suite's sweepers query every second.

Usage: python moto_atomic.py [moto_server arguments], e.g. -H 127.0.0.1 -p 5000.
"""

import functools
import logging
import sys
import threading
import time

import moto.sqs.models as sqs_models
from moto import backends
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.server import main

LOCK = threading.RLock()
OPERATIONS = [
    "put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item",
    "get_item", "batch_get_item", "transact_get_items", "query", "scan",
]


def atomic(method):
    @functools.wraps(method)
    def locked(*args, **kwargs):
        with LOCK:
            return method(*args, **kwargs)
    return locked


for name in OPERATIONS:
    if hasattr(DynamoDBBackend, name):
        setattr(DynamoDBBackend, name, atomic(getattr(DynamoDBBackend, name)))


def retained(self, queue_name, message):
    """moto's rule (kept while sent + retention is still ahead), on the one attribute it needs."""
    period_s = int(self.get_queue(queue_name).message_retention_period)
    return message.sent_timestamp / 1000 + period_s > time.time()


def epoch_s(dt=None, _moto=sqs_models.unix_time):
    return time.time() if dt is None else _moto(dt)


def epoch_ms(dt=None):
    return epoch_s(dt) * 1000.0


sqs_models.SQSBackend.is_message_valid_based_on_retention_period = retained
sqs_models.unix_time = epoch_s
sqs_models.unix_time_millis = epoch_ms

def all_items(self):
    """moto's order (hash key, then range key), each key turned into a plain value once."""
    if self.range_key_attr:
        items = [item for hash_set in self.items.values() for item in hash_set.values()]
        return sorted(items, key=lambda x: (x.hash_key.cast_value, x.range_key.cast_value))
    return sorted(self.items.values(), key=lambda x: x.hash_key.cast_value)


Table.all_items = all_items

MOTO_MODULES = frozenset(backends.list_of_moto_modules())
backends.list_of_moto_modules = lambda: MOTO_MODULES
logging.getLogger("werkzeug").setLevel(logging.WARNING)

if __name__ == "__main__":
    sys.exit(main())

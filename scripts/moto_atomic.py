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
  Python method call per comparison): the chaos suite's sweepers query every second;
- a TransactWriteItems (each task's submit) deep-copied every table it touches, to roll back on
  a failure: quadratic in the table's length, and four tenths of the chaos suite's DynamoDB time
  (under the lock above, so every other request waited). Here only the items it touches are
  copied, and restored on a failure (a table's stream records, which moto's copy also rolled
  back, are not: the stack's tables have no streams).

Usage: python moto_atomic.py [moto_server arguments], e.g. -H 127.0.0.1 -p 5000.
"""

import copy
import functools
import logging
import sys
import threading
import time

import moto.sqs.models as sqs_models
import moto.dynamodb.models as dynamodb_models
from moto import backends
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.server import main

LOCK = threading.RLock()
OPERATIONS = [
    "put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item",
    "get_item", "batch_get_item", "transact_get_items", "query", "scan",
]


class ItemsBefore:
    """A table's items as they were before a transaction: the item maps copied, the items the
    transaction touches (an update changes its item in place) deep-copied."""

    def __init__(self, table, keys):
        self.table = table
        if table.range_key_attr:
            self.items = type(table.items)(dict)
            self.items.update((h, dict(by_range)) for h, by_range in table.items.items())
        else:
            self.items = copy.copy(table.items)
        for hash_value, range_value in keys:
            item = table.get_item(hash_value, range_value)
            if item is None:
                continue
            if table.range_key_attr:
                self.items[hash_value][range_value] = copy.deepcopy(item)
            else:
                self.items[hash_value] = copy.deepcopy(item)

    def restore(self):
        self.table.items = self.items


def items_before(backend, transact_items):
    keys = {}
    for entry in transact_items:
        op_type, op = next(iter(entry.items()))
        table = backend.tables[op["TableName"]]
        attrs = op["Item"] if op_type == "Put" else op["Key"]
        range_value = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
        hash_value = DynamoType(attrs[table.hash_key_attr])
        keys.setdefault(op["TableName"], []).append((hash_value, range_value))
    return [ItemsBefore(backend.tables[name], table_keys) for name, table_keys in keys.items()]


class NoTableCopy:
    """moto's `copy` module, except that a Table's deep copy is the table itself."""

    def __getattr__(self, name):
        return getattr(copy, name)

    @staticmethod
    def deepcopy(x, memo=None):
        return x if isinstance(x, Table) else copy.deepcopy(x, memo)


moto_transact_write_items = DynamoDBBackend.transact_write_items


def transact_write_items(self, transact_items):
    try:
        before = items_before(self, transact_items)
    except Exception:  # a malformed request: moto's own path answers it
        return moto_transact_write_items(self, transact_items)
    dynamodb_models.copy = NoTableCopy()
    try:
        return moto_transact_write_items(self, transact_items)
    except BaseException:
        for table in before:
            table.restore()
        raise
    finally:
        dynamodb_models.copy = copy


DynamoDBBackend.transact_write_items = transact_write_items


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

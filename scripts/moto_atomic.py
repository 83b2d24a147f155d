"""moto's server with DynamoDB writes made atomic, as DynamoDB's are.

moto serves requests on threads, and its DynamoDB backend checks a write's condition and then
applies it without a lock: two conditional PutItems on the same revision can both succeed (seen in
`make test`: two workers claimed one task, each "from PENDING"), and concurrent TransactWriteItems
answer 500. The pipeline's exactly-once claims rest on conditional writes being atomic, so the tests
run moto with one lock around every DynamoDB operation. SQS is untouched (its long polls must not
hold a lock). Usage: python moto_atomic.py [moto_server arguments], e.g. -H 127.0.0.1 -p 5000.
"""

import functools
import sys
import threading

from moto.dynamodb.models import DynamoDBBackend
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

if __name__ == "__main__":
    sys.exit(main())

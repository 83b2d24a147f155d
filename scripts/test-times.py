#!/usr/bin/env python3
"""The slowest test binaries and tests of the last `make test` (cargo-nextest's JUnit report,
target/nextest/default/junit.xml): where `make test`'s minutes go, and how many tests ran at once
over the run (a run's length is set by what runs alone or one at a time, not by the sum).

Usage: scripts/test-times.py [JUNIT_XML] [--top N]
"""
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from datetime import datetime


def main(argv):
    top = 15
    if "--top" in argv:
        i = argv.index("--top")
        top = int(argv[i + 1])
        del argv[i : i + 2]
    path = argv[1] if len(argv) > 1 else "target/nextest/default/junit.xml"
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"{path}: {e} (run `make test` first)", file=sys.stderr)
        return 2
    tests = []
    per_binary = defaultdict(float)
    for case in root.iter("testcase"):
        seconds = float(case.get("time", "0"))
        binary = case.get("classname", "?")
        tests.append((seconds, binary, case.get("name", "?")))
        per_binary[binary] += seconds
    total = sum(t[0] for t in tests)
    print(f"{len(tests)} tests, {total:.0f} s of test time in all")
    print(f"\nslowest binaries (sum of their tests' times):")
    for binary, seconds in sorted(per_binary.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {seconds:8.1f} s  {binary}")
    print(f"\nslowest tests:")
    for seconds, binary, name in sorted(tests, reverse=True)[:top]:
        print(f"  {seconds:8.1f} s  {binary} {name}")
    print_concurrency(root)
    return 0


def print_concurrency(root):
    """Seconds of the run spent with 0, 1, 2, ... tests running (from each test's start and time)."""
    spans = []
    for case in root.iter("testcase"):
        stamp = case.get("timestamp")
        if stamp:
            start = datetime.fromisoformat(stamp).timestamp()
            spans.append((start, start + float(case.get("time", "0"))))
    if not spans:
        return
    first = min(s for s, _ in spans)
    last = max(e for _, e in spans)
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    at_once = defaultdict(float)
    running, previous = 0, first
    for moment, change in events:
        at_once[running] += moment - previous
        running, previous = running + change, moment
    print(f"\nthe run: {last - first:.0f} s from the first start to the last end; seconds with N tests running:")
    for n in sorted(at_once):
        print(f"  {n:3d}: {at_once[n]:7.1f} s")


if __name__ == "__main__":
    sys.exit(main(sys.argv))

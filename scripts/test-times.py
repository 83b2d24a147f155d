#!/usr/bin/env python3
"""The slowest test binaries and tests of the last `make test` (cargo-nextest's JUnit report,
target/nextest/default/junit.xml): where `make test`'s minutes go.

Usage: scripts/test-times.py [JUNIT_XML] [--top N]
"""
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict


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
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""Counts gtest test cases in Bazel's test.xml files under a testlogs folder.

Prints "<passed> <failed>". A case with a <failure> or <error> child is failed;
a case gtest reports as not run (disabled, or GTEST_SKIP) is not counted.
Bazel writes its own test.xml, with one <error> case, for a test binary that
crashed or timed out before gtest could write one: that counts as a failure.
"""
import os
import sys
import xml.etree.ElementTree as ET


def count(root_dir):
    passed = failed = 0
    for dirpath, _, files in os.walk(root_dir, followlinks=False):
        if "test.xml" not in files:
            continue
        path = os.path.join(dirpath, "test.xml")
        try:
            tree = ET.parse(path)
        except ET.ParseError:
            failed += 1
            continue
        for case in tree.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
            elif case.get("status") == "notrun" or case.get("result") == "skipped":
                continue
            elif case.find("skipped") is not None:
                continue
            else:
                passed += 1
    return passed, failed


if __name__ == "__main__":
    if len(sys.argv) != 2 or not os.path.isdir(sys.argv[1]):
        print("0 0")
        sys.exit(0)
    p, f = count(sys.argv[1])
    print(p, f)

# SPDX-License-Identifier: MIT
"""Helpers for the tests: what /proc says about this process's mappings."""


def mapped_file(address):
    """The file backing `address` in this process (/proc/self/maps), or None."""
    with open("/proc/self/maps") as fp:
        for line in fp:
            parts = line.split(maxsplit=5)
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if lo <= address < hi:
                return parts[5].strip() if len(parts) > 5 else ""
    return None


def maps_mentioning(path):
    """How many mappings of this process show `path`."""
    with open("/proc/self/maps") as fp:
        return sum(1 for line in fp if line.rstrip().endswith(str(path)))

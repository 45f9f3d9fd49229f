#!/usr/bin/env python3
"""Reads wrk --latency output on stdin, prints 'requests_per_second p50_us p99_us'."""
import re
import sys

text = sys.stdin.read()
unit = {"us": 1, "ms": 1000, "s": 1_000_000}


def lat(pct):
    m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    return float(m.group(1)) * unit[m.group(2)] if m else float("nan")


rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if errors:
    print(f"warning: {errors.group(1)} non-2xx responses", file=sys.stderr)
print(f"{float(rps.group(1)) if rps else 0:.0f} {lat(50):.0f} {lat(99):.0f}")

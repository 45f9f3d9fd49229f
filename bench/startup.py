#!/usr/bin/env python3
"""Start-up time of `switchyard serve`: exec to the first accepted HTTP request, median of 5."""
import os
import socket
import statistics
import subprocess
import sys
import time

binary, config, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
samples = []
for _ in range(5):
    start = time.perf_counter()
    proc = subprocess.Popen([binary, "serve", "--config", config, "--log-level", "error"],
                            env=dict(os.environ, BENCH_KEY="bench"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(16).startswith(b"HTTP/1.1 200"):
                    break
        except OSError:
            if time.perf_counter() - start > 10:
                raise SystemExit("switchyard did not start")
            time.sleep(0.0005)
    samples.append((time.perf_counter() - start) * 1000)
    proc.terminate()
    proc.wait()
print(f"{statistics.median(samples):.1f}")

#!/usr/bin/env python3
"""Start-up time of `switchyard serve`: exec to the first accepted HTTP request, median of 5.

usage: startup.py BINARY CONFIG PORT [--restore-store PRISTINE STORE]

CONFIG may name any store (`store.path`). With --restore-store, STORE (the config's store.path)
is overwritten with a copy of PRISTINE before every sample, untimed, so each start opens the same
database: a server resumes the tasks it finds and changes the file, which would make later samples
start on a different store.
"""
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time

args = sys.argv[1:]
restore = None
if "--restore-store" in args:
    i = args.index("--restore-store")
    restore = (args[i + 1], args[i + 2])
    del args[i:i + 3]
binary, config, port = args[0], args[1], int(args[2])


def restore_store(pristine, store):
    for suffix in ("-wal", "-shm"):
        if os.path.exists(store + suffix):
            os.remove(store + suffix)
    shutil.copyfile(pristine, store)
    if os.path.exists(pristine + "-wal"):
        shutil.copyfile(pristine + "-wal", store + "-wal")


samples = []
for _ in range(5):
    if restore:
        restore_store(*restore)
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
            if proc.poll() is not None:
                raise SystemExit(f"switchyard exited with status {proc.returncode} before accepting a request")
            if time.perf_counter() - start > 10:
                proc.kill()
                raise SystemExit("switchyard did not start")
            time.sleep(0.0005)
    samples.append((time.perf_counter() - start) * 1000)
    proc.terminate()
    proc.wait()
print(f"{statistics.median(samples):.1f}")

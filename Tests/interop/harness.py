"""What the interop scripts share: starting the mock upstreams and the gateway (waiting for the
line each prints when it listens, never sleeping), one PASS/FAIL line per check, and the closing
"N passed, M failed" with the exit code."""
import re
import subprocess
import sys
import time
import traceback

# The build directory (first argument), the keys every script configures, a 1x1 PNG.
BUILD = sys.argv[1] if len(sys.argv) > 1 else ".build/debug"
KEY = "sk-interop-client-key-0123456789"
PROVIDER_KEY = "sk-interop-provider-key-9876543210"
PNG_BASE64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="

results = []


def start(cmd, pattern, env=None, stream="stdout", timeout=20):
    """Starts a process and waits (by reading its output, not sleeping) for a line matching pattern."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    pipe = proc.stdout if stream == "stdout" else proc.stderr
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        line = pipe.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(pattern, line)
        if m:
            return proc, m
    proc.kill()
    raise RuntimeError(f"{cmd[0]} did not start: {''.join(lines)[-2000:]}")


def mock(build, *args):
    """A `switchyard-mock` on a free port: (process, port)."""
    proc, m = start([f"{build}/switchyard-mock", "--port", "0", *args], r"listening on http://127\.0\.0\.1:(\d+)")
    return proc, int(m.group(1))


def serve(build, config_path, env):
    """`switchyard serve` on the config (which listens on port 0): (process, port)."""
    proc, m = start([f"{build}/switchyard", "serve", "--config", config_path], r'"msg":"listening".*"port":(\d+)',
                    env=env, stream="stderr")
    return proc, int(m.group(1))


def stop(procs):
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        p.wait(timeout=10)


def check(name):
    """Runs the decorated function at once as one named check."""
    def wrap(fn):
        try:
            fn()
            results.append((name, None))
            print(f"PASS {name}")
        except Exception as e:  # noqa: BLE001 - report every failure
            results.append((name, e))
            print(f"FAIL {name}: {e!r}")
            traceback.print_exc()
        return fn
    return wrap


def report():
    """Prints the closing line; the exit code (1 when a check failed)."""
    failed = [n for n, e in results if e is not None]
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0

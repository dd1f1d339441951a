"""The C heap tuning the daemon applies (agent/memory.py); its effect on a long run is
measured by benchmarks/soak.py and benchmarks/load.py."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    )
    return result.stdout.strip()


def test_the_heaps_are_limited_on_glibc_unless_the_operator_chose() -> None:
    import os

    code = "from agent.memory import limit_heaps; print(limit_heaps())"
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    assert _run(code, env) == "True"
    assert _run(code, {**env, "MALLOC_ARENA_MAX": "4"}) == "False"


def test_freed_memory_goes_back_to_the_system() -> None:
    # Many small blocks freed out of order stay in glibc's heap (free, but resident)
    # until trimmed: after release_free_memory the process is smaller again.
    code = """
        import ctypes
        from agent.memory import release_free_memory

        def rss_kb():
            for line in open("/proc/self/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])

        libc = ctypes.CDLL(None)
        libc.malloc.restype = ctypes.c_void_p
        libc.free.argtypes = [ctypes.c_void_p]
        blocks = [libc.malloc(4000) for _ in range(40_000)]
        for address in blocks:
            ctypes.memset(address, 1, 4000)
        keep = libc.malloc(4000)  # above them: the heap's top cannot shrink by itself
        for address in blocks:
            libc.free(address)
        before = rss_kb()
        release_free_memory()
        print(before - rss_kb())
    """
    assert int(_run(code)) > 100_000  # of the ~160 MB freed, more than 100 MB returned

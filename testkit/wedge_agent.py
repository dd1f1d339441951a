"""`kitchen-agent run` with one more worker that wedges on request (watchdog tests).

``python -m testkit.wedge_agent --config PATH`` runs the real daemon with the real workers
(:data:`agent.workers.WORKER_SPECS`) plus ``wedge``: a worker that checks in like any
other until the file ``wedge`` appears in the state folder, then takes the file away and
blocks forever without checking in — alive, not crashed, exactly what a deadlock looks
like from outside. The daemon's watchdog must stop pinging; systemd then restarts it.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from agent.commands.run_cmd import leave_now
from agent.daemon import Daemon, Runtime
from agent.logs import configure_logging
from agent.reload import WorkerSpec
from agent.supervisor import Worker, WorkerContext
from agent.workers import WORKER_SPECS


class WedgeWorker:
    name = "wedge"

    def __init__(self, flag: Path) -> None:
        self.flag = flag

    def run(self, ctx: WorkerContext) -> None:
        while not ctx.wait(0.1):
            if self.flag.exists():
                self.flag.unlink()  # once: the restarted agent runs normally
                threading.Event().wait()  # wedged for good


def _wedge(runtime: Runtime) -> Worker:
    return WedgeWorker(runtime.state_dir / "wedge")


SPECS = (*WORKER_SPECS, WorkerSpec("wedge", lambda runtime: runtime.state_dir, _wedge))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testkit.wedge_agent")
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args(argv)
    configure_logging(level="info")
    code = Daemon(args.config, SPECS).run()
    leave_now(code)
    return code


if __name__ == "__main__":
    sys.exit(main())

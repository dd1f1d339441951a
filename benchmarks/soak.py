"""A soak: `kitchen-agent run` for a long time against a whole store, with faults.

Camera freeze, camera address change (DHCP), broker restart, ingest loss, SIGHUP with a
good and a bad config, a wedged ONVIF call — once as a warm-up, then repeated for
``--minutes`` (see testkit/soak.py for each fault and what is checked). Ends with: no
crash, RSS growth under 5 % after warm-up, no orphan process, every event raised
accounted for at the broker. Exit 0 when all held. Under ten minutes it is the short form
(no warm-up cycle; RSS judged only for a gross leak, 25 %).

    .venv/bin/python benchmarks/soak.py [--minutes 30] [--cameras 4]

The 3-minute form is also a test, not in the default run:
``scripts/test.sh -k soak`` (it is part of every test run).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from testkit.soak import run_soak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the soak")
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    try:
        report = run_soak(workdir, args.minutes, args.cameras)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    for line in report.lines():
        print(line)
    for fault in report.faults:
        print(f"    {fault}")
    print(f"  events at the broker by type: {dict(sorted(report.event_types.items()))}")
    if args.keep:
        print(f"  work folder: {workdir}")
    return 0 if not report.problems else 1


if __name__ == "__main__":
    sys.exit(main())

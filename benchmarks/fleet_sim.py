"""The fleet simulator: N simulated stores, one MQTT connection each, publishing births,
states, heartbeats and events that keep the published schemas (testkit/fleet_sim.py).

Run: ``.venv/bin/python benchmarks/fleet_sim.py --broker mqtt://127.0.0.1:1883 --stores 100``
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from testkit.fleet_sim import main

if __name__ == "__main__":
    raise SystemExit(main())

"""Central operations' side of kitchen-agent: ``kitchen-agent fleet ...``.

Installed with the ``fleet`` extra on the operations server, never on a box. It reads the
fleet's MQTT traffic (``docs/mqtt.md``) into a database (SQLite for one consumer,
PostgreSQL for several), answers the live questions (``watch``, ``cameras``, ``alerts``),
sends commands, and writes the programme's monthly district reports (annexes 3 and 4).

Every import of box code goes through :mod:`agent.fleet.contract`; the fleet never imports
OpenCV, numpy, zeep or the relay.
"""

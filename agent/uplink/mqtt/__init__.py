"""MQTT reporting to central operations: the link, the reporter worker and what it sends.

``link`` (one paho client per connection, presence) over ``client`` (a bounded paho client
and its callbacks' notes) and ``settings`` (topics, connection settings, TLS); ``reporter``
(the worker) with ``heartbeat`` (its pure message builders); ``commands`` and ``ledger``
(remote commands, and the ids answered until they expire); ``outbox`` (the durable event
queue) with ``salvage`` (reading back a damaged one); ``session`` (the connection counter)
and ``sysinfo``. The message models themselves are :mod:`agent.uplink.messages` (the
published schemas come from them).
"""

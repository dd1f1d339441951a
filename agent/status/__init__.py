"""The running agent's own picture: ``kitchen-agent status`` and ``STATUS=``.

- :mod:`agent.status.model`: the answer's pydantic models (and its JSON Schema);
- :mod:`agent.status.build`: pure functions that make it from what the daemon holds;
- :mod:`agent.status.channel`: the socket the daemon answers on, and the client.
"""

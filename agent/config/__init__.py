"""Configuration: strict models (one module per section) and the loader.

Public API: :class:`AgentConfig`, :func:`load_config`, :func:`load_text`,
:func:`config_hash`, :func:`config_json_schema`.
"""

from agent.config.loader import load_config, load_text
from agent.config.model import AgentConfig, config_hash, config_json_schema

__all__ = ["AgentConfig", "config_hash", "config_json_schema", "load_config", "load_text"]

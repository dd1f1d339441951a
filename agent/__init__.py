"""kitchen-agent: the edge agent of an Internet + Bright Kitchen restaurant."""

__version__ = "0.1.0"

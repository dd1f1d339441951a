"""CLI commands. Each module exposes ``register(subparsers)``; see agent/cli.py.

Keep heavy imports (cv2, zeep, paho) inside the handlers so ``--help`` stays instant.
"""

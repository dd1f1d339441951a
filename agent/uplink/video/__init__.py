"""The video relay to the platform ingest: one supervised ffmpeg per streaming camera.

``manager`` (the ``streams`` worker, a thin shell), ``lifecycle`` (a relay's life cycle as a
pure state machine), ``negotiation`` (asking a camera to re-encode, off the loop),
``feeds`` (what the relay knows of each camera), and the pure helpers ``routes`` (copy,
set_encoder or transcode), ``bandwidth`` (the uplink budget), ``ffmpeg_args`` (argv) and
``progress`` (ffmpeg's ``-progress`` output).
"""

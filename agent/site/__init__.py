"""Work on site: what installers and technicians do in the kitchen.

- :mod:`agent.site.cameras`: one discovery and inventory round for the CLI (``discover``,
  ``enroll``, ``acceptance``, ``diagnose``), and naming cameras by id or address;
- :mod:`agent.site.look`: one look at a camera now (its picture judged, its KCP regions
  against its reference, its stream opened);
- :mod:`agent.site.enrolment`: the enrolment plan (pure) and writing it into the config;
- :mod:`agent.site.pictures`: snapshots beside the config, drawings, ASCII thumbnails;
- :mod:`agent.site.advice`: what to do next, in Chinese and English;
- :mod:`agent.site.probes`: the broker reached with the store's credentials, a test push
  to the ingest, DNS, clock sync, CPU load and temperature;
- :mod:`agent.site.acceptance`, :mod:`agent.site.diagnosis`: the checklists;
- :mod:`agent.site.report`: the technician's offline HTML report.

The commands live in :mod:`agent.commands`; this package holds what they share.
"""

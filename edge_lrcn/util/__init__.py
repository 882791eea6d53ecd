"""Helpers every stage shares, one copy each: files written whole or not at all (:mod:`.files`) and retry delays
with jitter (:mod:`.backoff`). Log lines about untrusted input, throttled and once-per-problem, are in
``edge_lrcn/logsafe.py``. Nothing here imports the rest of edge_lrcn."""

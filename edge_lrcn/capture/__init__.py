"""Frames in: the sources (:mod:`.sources`), the thread that reads one (:mod:`.reader`) and the camera supervisor
that notices stalls and frozen timestamps and reopens with backoff (:mod:`.camera`)."""

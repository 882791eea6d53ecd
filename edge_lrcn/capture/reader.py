"""The thread that reads a source, so that a camera that blocks in ``read()`` cannot freeze the daemon's loop."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator

from .frame import Frame, Source, SourceReadError

log = logging.getLogger(__name__)


class FrameReader:
    """Reads a source on its own thread. Files: every frame, in order (blocking queue). Live: the latest frames
    (a full queue drops the oldest, counted), so a slow loop never works on a stale backlog.

    The reader owns closing the source (:meth:`close`): OpenCV's VideoCapture must not be released while ``read()``
    runs on another thread (a use after free in the capture backend), so a source stuck in ``read()`` is closed by
    the reader thread itself once that read returns (V4L2 times out after 10 s, FFmpeg streams after 30 s), unless
    the source declares that ``close()`` from another thread is safe and unblocks the read.

    ``keep`` (the classifier's pacer decision, handed down by the daemon's ``build()``) is asked for each frame's
    timestamp before the source decodes it: frames the model will not use come without pixels, in order, so the
    camera supervisor still sees every timestamp and the classifier counts every frame."""

    END = object()

    def __init__(self, source: Source, maxsize: int = 4, keep: Callable[[float], bool] | None = None):
        self.source, self.keep = source, keep
        self.q: queue.Queue = queue.Queue(maxsize=maxsize)
        self.dropped = 0
        self.error: Exception | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._done = self._close_requested = self._closed = False
        self.thread = threading.Thread(target=self._run, name="frame-reader", daemon=True)
        self.thread.start()

    def _put(self, item) -> None:
        if not self.source.live or item is self.END:
            while not self._stop.is_set():
                try:
                    self.q.put(item, timeout=0.2)
                    return
                except queue.Full:
                    continue
            return
        try:
            self.q.put_nowait(item)
        except queue.Full:
            self._make_room(item)

    def _make_room(self, item) -> None:
        """A live source outran the loop: drop the oldest frame the pacer declined (it carries no pixels and the
        model would skip it), else the oldest, and queue ``item``. Dropping a kept frame while a declined one
        waits would leave a hole in the window that the pacer, having decided, cannot fill."""
        with self.q.mutex:
            waiting = self.q.queue
            declined = next((i for i, f in enumerate(waiting) if getattr(f, "kept", None) is False), None)
            if declined is not None:
                del waiting[declined]  # by position: frames hold arrays, which do not compare by ==
            elif waiting:
                waiting.popleft()
            self.dropped += 1
            waiting.append(item)
            self.q.not_empty.notify()

    def _run(self) -> None:
        try:
            first = True
            while not self._stop.is_set():
                frame = self.source.read(self.keep) if self.keep is not None else self.source.read()
                if frame is None:
                    break
                if first and frame.pixels is not None:  # `bench` times the start-up to this line
                    h, w = frame.pixels.shape[:2]
                    log.info("first frame from %s: %dx%d%s", self.source.description, w * frame.scale,
                             h * frame.scale, f" (decoded at 1/{frame.scale}: {w}x{h})" if frame.scale > 1 else "")
                    first = False
                self._put(frame)
        except SourceReadError as exc:
            self.error = exc
        except Exception as exc:  # a driver bug must surface as a camera fault, not kill the thread silently
            self.error = SourceReadError(f"{self.source.description}: {type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._done = True
                late_close = self._close_requested and not self._closed
                self._closed = self._closed or late_close
            if late_close:
                self._close_source()
                log.info("%s closed after its pending read returned", self.source.description)
        self._put(self.END)

    def get(self, timeout: float | None):
        return self.q.get(timeout=timeout)

    def stop(self) -> None:
        """Stop delivering frames (the source stays open until :meth:`close`)."""
        self._stop.set()

    def close(self, timeout: float = 0.5) -> None:
        """Stop reading and close the source now, or hand the close to the reader thread if it is inside read()."""
        self._stop.set()
        self.thread.join(timeout)
        with self._lock:
            self._close_requested = True
            now = not self._closed and (self._done or self.source.close_unblocks_read)
            self._closed = self._closed or now
        if now:
            self._close_source()
        elif not self._closed:
            log.warning("%s is still inside a read: it will be closed when that read returns",
                        self.source.description)

    def _close_source(self) -> None:
        try:
            self.source.close()
        except Exception:
            log.debug("closing the source failed", exc_info=True)


def read_ahead(source: Source, keep: Callable[[float], bool] | None = None, maxsize: int = 8) -> Iterator[Frame]:
    """Every frame of a finite source (a file), in order, decoded on a :class:`FrameReader` thread while the caller
    works on the frames before (``eval``: decoding overlaps the model on a second core, as in the daemon). ``keep``
    as for :class:`FrameReader`: the frames it declines come undecoded (``pixels`` None, ``kept`` False). A read that
    fails raises its :class:`SourceReadError` here, after the frames before it. The source is closed at the end."""
    if source.live:
        raise ValueError("read_ahead reads finite sources (files)")
    reader = FrameReader(source, maxsize, keep)
    try:
        while (item := reader.get(timeout=None)) is not FrameReader.END:
            yield item
        if reader.error:
            raise reader.error
    finally:
        reader.close()

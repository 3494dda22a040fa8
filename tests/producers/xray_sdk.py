"""The scenario played by the AWS X-Ray SDK for Python, captured at a UDP "daemon" on 127.0.0.1.

The SDK's UDPEmitter sends one datagram per segment document (or per streamed subsegment):
``{"format":"json","version":1}\\n<document>``. What the daemon would forward to PutTraceSegments is the document.
"""

from __future__ import annotations

import json
import socket
import threading
import time

from aws_xray_sdk.core import AWSXRayRecorder
from aws_xray_sdk.core.models import http
from aws_xray_sdk.core.models.traceid import TraceId

from .scenario import Local, Service

HEADER = {"format": "json", "version": 1}


class UdpDaemon:
    """The X-Ray daemon's UDP side: a socket on 127.0.0.1 (a free port) that keeps every document it receives."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self.address = "127.0.0.1:%d" % self._sock.getsockname()[1]

    def documents(self, n: int, timeout: float = 5.0, quiet: float = 0.2) -> list[str]:
        """Exactly the ``n`` documents sent so far (fails on fewer after ``timeout`` or on more), header checked."""
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            wait = deadline - time.monotonic() if len(out) < n else quiet
            if wait <= 0:
                break
            self._sock.settimeout(wait)
            try:
                data, _ = self._sock.recvfrom(65536)
            except socket.timeout:
                break
            header, sep, doc = data.decode("utf-8").partition("\n")
            assert sep and json.loads(header) == HEADER, data[:200]
            out.append(doc)
        assert len(out) == n, f"the daemon received {len(out)} documents, expected {n}"
        return out

    def close(self) -> None:
        self._sock.close()


def recorder(daemon_address: str, streaming_threshold: int = 30) -> AWSXRayRecorder:
    """A plugin-free recorder (the EC2/ECS plugins query instance metadata) that samples every request."""
    rec = AWSXRayRecorder()
    rec.configure(sampling=False, plugins=(), context_missing="LOG_ERROR", daemon_address=daemon_address,
                  streaming_threshold=streaming_threshold)
    return rec


def emit(rec: AWSXRayRecorder, traces: tuple[Service, ...]) -> list[str]:
    """Play ``traces``; each service runs in its own thread (its own segment, as in its own process). Returns the
    trace ids in scenario order."""
    ids = []
    for svc in traces:
        tid = TraceId().to_id()
        ids.append(tid)
        _serve(rec, svc, tid, None)
    return ids


def _serve(rec: AWSXRayRecorder, svc: Service, trace_id: str, parent_id: str | None) -> None:
    failed: list[BaseException] = []

    def run() -> None:
        try:
            seg = rec.begin_segment(svc.name, traceid=trace_id, parent_id=parent_id, sampling=1)
            if svc.origin:
                seg.origin = svc.origin  # what the recorder does with a plugin's ORIGIN (_populate_runtime_context)
            seg.put_http_meta(http.METHOD, "POST")
            seg.put_http_meta(http.URL, svc.url)
            if svc.tier:
                seg.put_annotation("tier", svc.tier)
            for k, v in svc.annotations:
                seg.put_annotation(k, v)
            seg.put_metadata("request", {"body_bytes": 512, "query": {"k": 10}}, "akidb")
            for lc in svc.locals:
                _local(rec, lc)
            if svc.call is not None:
                sub = rec.begin_subsegment(f"call {svc.call.name}", "remote")
                sub.put_http_meta(http.METHOD, "POST")
                sub.put_http_meta(http.URL, svc.call.url)
                _serve(rec, svc.call, trace_id, sub.id)
                sub.put_http_meta(http.STATUS, svc.call.status)
                rec.end_subsegment()
            seg.put_http_meta(http.STATUS, svc.status)
            rec.end_segment()
        except BaseException as e:  # noqa: BLE001 - re-raised in the calling thread
            failed.append(e)

    t = threading.Thread(target=run, name=f"service {svc.name}")
    t.start()
    t.join()
    if failed:
        raise failed[0]


def _local(rec: AWSXRayRecorder, lc: Local) -> None:
    try:
        with rec.in_subsegment(lc.name):
            for c in lc.children:
                _local(rec, c)
            if lc.sleep_s:
                time.sleep(lc.sleep_s)
            if lc.raises:
                raise RuntimeError(f"{lc.name} failed")
    except RuntimeError:
        if not lc.raises:
            raise

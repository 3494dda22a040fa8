"""The scenario played by the OpenTelemetry SDK for Python, written as OTLP/JSON by the official file exporter
(``opentelemetry-exporter-otlp-json-file``: one ``ExportTraceServiceRequest`` per line).

Each service has its own TracerProvider (its own resource: ``service.name``, ``cloud.platform``) and its own file,
as separate processes would; the trace context crosses services through W3C ``traceparent`` headers.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from opentelemetry.exporter.otlp.json.file import FileSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from .scenario import PLATFORMS, Local, Service

_PROPAGATOR = TraceContextTextMapPropagator()


class OtelServices:
    """One TracerProvider and one OTLP/JSON file per service name, under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._providers: dict[str, TracerProvider] = {}

    def tracer(self, svc: Service) -> Tracer:
        if svc.name not in self._providers:
            attrs = {"service.name": svc.name, "service.version": "2026.11",
                     "process.command_args": ("python", "-m", svc.name)}  # an array value (arrayValue)
            if svc.origin:
                attrs["cloud.platform"] = PLATFORMS[svc.origin]
            tp = TracerProvider(resource=Resource.create(attrs))
            tp.add_span_processor(BatchSpanProcessor(FileSpanExporter(self.directory / f"{svc.name}.jsonl")))
            self._providers[svc.name] = tp
        return self._providers[svc.name].get_tracer("akidb.tests", "1.0")

    def files(self) -> list[Path]:
        return sorted(self.directory / f"{n}.jsonl" for n in self._providers)

    def shutdown(self) -> None:
        """Flush every batch to its file and close it."""
        for tp in self._providers.values():
            tp.shutdown()


def emit(services: OtelServices, traces: tuple[Service, ...]) -> list[str]:
    """Play ``traces``; returns the trace ids (X-Ray form, as the ingest stores them) in scenario order."""
    ids = []
    for svc in traces:
        h = _serve(services, svc, None)
        ids.append(f"1-{h[:8]}-{h[8:]}")
    return ids


def _serve(services: OtelServices, svc: Service, carrier: dict[str, str] | None) -> str:
    """Handle one request in a new thread (no context leaks in: only the headers); returns the trace id (hex)."""
    out: list[str] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            out.append(_handle(services, svc, carrier))
        except BaseException as e:  # noqa: BLE001 - re-raised in the calling thread
            failed.append(e)

    t = threading.Thread(target=run, name=f"service {svc.name}")
    t.start()
    t.join()
    if failed:
        raise failed[0]
    return out[0]


def _handle(services: OtelServices, svc: Service, carrier: dict[str, str] | None) -> str:
    tracer = services.tracer(svc)
    ctx = _PROPAGATOR.extract(carrier) if carrier is not None else None
    attrs: dict[str, object] = {"http.request.method": "POST", "url.full": svc.url,
                                "http.request.header.accept": ("application/json",)}
    attrs.update(dict(svc.annotations))
    if svc.tier:
        attrs["tier"] = svc.tier
    with tracer.start_as_current_span("POST /v1/search", context=ctx, kind=SpanKind.SERVER, attributes=attrs) as span:
        for lc in svc.locals:
            _local(tracer, lc)
        if svc.call is not None:
            with tracer.start_as_current_span(
                    f"call {svc.call.name}", kind=SpanKind.CLIENT,
                    attributes={"http.request.method": "POST", "url.full": svc.call.url}) as client:
                headers: dict[str, str] = {}
                _PROPAGATOR.inject(headers)
                _serve(services, svc.call, headers)
                client.set_attribute("http.response.status_code", svc.call.status)
                if svc.call.status >= 400:  # semantic conventions: a CLIENT span is an error from 4xx on
                    client.set_status(Status(StatusCode.ERROR))
        span.set_attribute("http.status_code" if svc.legacy_status_attr else "http.response.status_code", svc.status)
        if svc.status >= 500:  # a SERVER span only from 5xx
            span.set_status(Status(StatusCode.ERROR, f"HTTP {svc.status}"))
        return format(span.get_span_context().trace_id, "032x")


def _local(tracer: Tracer, lc: Local) -> None:
    try:
        with tracer.start_as_current_span(lc.name):  # INTERNAL; an exception is recorded and sets status ERROR
            for c in lc.children:
                _local(tracer, c)
            if lc.sleep_s:
                time.sleep(lc.sleep_s)
            if lc.raises:
                raise RuntimeError(f"{lc.name} failed")
    except RuntimeError:
        if not lc.raises:
            raise

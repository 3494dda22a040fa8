"""Print EMF log events with the official ``aws-embedded-metrics`` library (run as a script, with
``AWS_EMF_ENVIRONMENT=Local``: its Local environment writes each event as one line on stdout).

A separate process because the library reads its configuration from the environment at import time.
Usage: ``python emf_producer.py TIMESTAMP_MS``. What it prints is asserted in tests/test_real_producers.py.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone

from aws_embedded_metrics.logger.metrics_logger_factory import create_metrics_logger
from aws_embedded_metrics.storage_resolution import StorageResolution


def main(ts_ms: int) -> None:
    ts = datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc)

    # An edge router event: default dimensions (LogGroup, ServiceName, ServiceType) plus ours, one set.
    m = create_metrics_logger()
    m.set_namespace("AkiDB/Edge")
    m.put_dimensions({"Service": "lambda-edge", "EdgeLocation": "NRT57", "Model": "hnsw"})
    m.put_metric("Latency", 41.5, "Milliseconds")
    for v in (1, 0, 1):  # several values of one metric in one event: an array
        m.put_metric("ColdStart", v, "Count")
    m.put_metric("RequestsHighRes", 7, "Count", StorageResolution.HIGH)
    m.put_metric("PayloadBytes", 2048)  # no unit: the library writes "None"
    for i in range(150):  # over the 100 values an event may hold: the library splits it across two events
        m.put_metric("QueueDepth", i, "Count")
    m.set_property("RequestId", "req-0001")
    m.set_property("Request", {"path": "/v1/search", "k": 10})  # a property that is not a metric nor a dimension
    m.set_timestamp(ts)
    m.flush_sync()

    # A REST event with two dimension sets and no default dimensions.
    m = create_metrics_logger()
    m.set_namespace("AkiDB/Rest")
    m.set_dimensions({"Service": "akidb-rest"}, {"Service": "akidb-rest", "Model": "lstm"})
    m.put_metric("Requests", 10, "Count")
    m.put_metric("CPUUtilization", 42.5, "Percent")
    m.put_metric("Throughput", 0.25, "Count/Second")
    m.set_timestamp(ts)
    m.flush_sync()

    # A metric without any dimension ("Dimensions": []).
    m = create_metrics_logger()
    m.set_namespace("AkiDB/Rest")
    m.reset_dimensions(False)
    m.put_metric("Heartbeat", 1, "Count")
    m.set_timestamp(ts)
    m.flush_sync()

    # The library's own limits: 30 dimensions in a set, 100 metrics per event (120 metrics: two events).
    m = create_metrics_logger()
    m.set_namespace("AkiDB/Limits")
    m.set_dimensions({f"D{i:02d}": f"v{i}" for i in range(30)})
    for i in range(120):
        m.put_metric(f"M{i:03d}", i, "Count")
    m.set_timestamp(ts)
    m.flush_sync()


if __name__ == "__main__":
    main(int(sys.argv[1]))

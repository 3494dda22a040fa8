"""Evaluating a sensor in tests the way the daemon does: inside an opened sensor context."""

import dagster as dg


def evaluate(sensor, **context):  # noqa: ANN001, ANN201
    """One evaluation of ``sensor`` in a sensor context opened as a context manager (a resource with nested
    resources, such as LakeResource with its S3Resource, is only built inside one)."""
    with dg.build_sensor_context(**context) as ctx:
        return sensor(ctx)

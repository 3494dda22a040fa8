"""Parsers that turn raw telemetry (X-Ray segment documents, EMF log events, Prometheus samples) into lake rows."""

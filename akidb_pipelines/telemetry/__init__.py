"""Raw telemetry: where it comes from (``fetch``: the landing zone or the live AWS/Prometheus APIs) and the parsers
that turn it (X-Ray segment documents, EMF log events, Prometheus samples) into lake rows."""

"""Real producers for tests/test_real_producers.py: the official X-Ray, OpenTelemetry and EMF libraries driven through
one request scenario (scenario.py), so that the ingest is fed what those libraries emit, not what our generator
believes they emit."""

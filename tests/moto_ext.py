"""moto 5.2.5 lacks Lambda's provisioned-concurrency API; the sandbox's extension adds it (before the server starts)."""

from akidb_pipelines.testing.aws_sandbox import extend_moto

extend_moto()

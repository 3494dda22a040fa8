"""moto 5.2.5 lacks Lambda's provisioned-concurrency API; importing the sandbox module adds it (before the
server starts)."""

import akidb_pipelines.synthetic.aws_sandbox  # noqa: F401

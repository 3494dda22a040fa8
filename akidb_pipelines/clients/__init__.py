"""Clients for the outside systems: AWS (X-Ray, CloudWatch Logs) through boto3, Prometheus over HTTP."""

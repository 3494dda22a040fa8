"""The Parquet lake (local folder or S3 prefix) and the DuckDB catalog of views over it."""

from akidb_pipelines.storage.catalog import Catalog, CatalogLockTimeout
from akidb_pipelines.storage.lake import Lake, PartitionKey, hour_partitions

__all__ = ["Catalog", "CatalogLockTimeout", "Lake", "PartitionKey", "hour_partitions"]

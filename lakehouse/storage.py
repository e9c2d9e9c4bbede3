"""Where Strata's files live: local directories or S3-compatible object storage, by settings.

A location is a `file://` URI (or a plain path) or `s3://bucket/prefix`. Every client of
object storage (PyArrow for the landing store, PyIceberg for the warehouse, boto3 under
MLflow and Dagster's compute logs) gets the same endpoint, keys and region from here; the
region is always given, so nothing asks AWS where a bucket lives.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from lakehouse.settings import Settings

if TYPE_CHECKING:
    from pyarrow.fs import FileSystem

S3 = "s3"


def is_object_store(location: str) -> bool:
    return urlparse(location).scheme == S3


def local_path(location: str) -> Path:
    """The directory of a local location; an object-store location has none."""
    url = urlparse(location)
    if url.scheme == S3:
        raise ValueError(f"{location} is in object storage, not a local directory")
    return Path(unquote(url.path) if url.scheme == "file" else location)


def bucket_and_prefix(location: str) -> tuple[str, str]:
    url = urlparse(location)
    return url.netloc, url.path.strip("/")


def filesystem(settings: Settings, location: str) -> tuple[FileSystem, str]:
    """A PyArrow file system for `location`, and the location's path inside it."""
    import pyarrow.fs as pafs

    if not is_object_store(location):
        return pafs.LocalFileSystem(), str(local_path(location).resolve())
    bucket, prefix = bucket_and_prefix(location)
    secret = settings.s3_secret_access_key
    endpoint = urlparse(settings.s3_endpoint) if settings.s3_endpoint else None
    s3 = pafs.S3FileSystem(
        access_key=settings.s3_access_key_id or None,
        secret_key=secret.get_secret_value() if secret is not None else None,
        region=settings.s3_region,
        endpoint_override=endpoint.netloc if endpoint is not None else None,
        scheme=endpoint.scheme if endpoint is not None else "https",
        check_directory_existence_before_creation=False,
    )
    return s3, f"{bucket}/{prefix}".rstrip("/")


def iceberg_properties(settings: Settings) -> dict[str, str]:
    """PyIceberg's FileIO properties for the configured object storage."""
    properties = {"s3.region": settings.s3_region}
    if settings.s3_endpoint:
        properties["s3.endpoint"] = settings.s3_endpoint
    if settings.s3_access_key_id:
        properties["s3.access-key-id"] = settings.s3_access_key_id
    if settings.s3_secret_access_key is not None:
        properties["s3.secret-access-key"] = settings.s3_secret_access_key.get_secret_value()
    return properties


def aws_env(settings: Settings) -> dict[str, str]:
    """The AWS SDK's variables for the configured object storage: boto3 under MLflow and under
    Dagster's S3 compute log manager reads nothing else."""
    env = {
        "AWS_DEFAULT_REGION": settings.s3_region,
        "AWS_REGION": settings.s3_region,
        # S3-compatible servers may refuse the checksums newer SDKs send by default.
        "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
        "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
    }
    if settings.s3_endpoint:
        env["AWS_ENDPOINT_URL_S3"] = settings.s3_endpoint
        env["MLFLOW_S3_ENDPOINT_URL"] = settings.s3_endpoint
    if settings.s3_access_key_id:
        env["AWS_ACCESS_KEY_ID"] = settings.s3_access_key_id
    if settings.s3_secret_access_key is not None:
        env["AWS_SECRET_ACCESS_KEY"] = settings.s3_secret_access_key.get_secret_value()
    return env


def uses_object_store(settings: Settings) -> bool:
    return any(
        is_object_store(location)
        for location in (
            settings.warehouse,
            settings.landing_url,
            settings.mlflow_artifact_root,
            settings.dagster_compute_logs,
        )
    )


def export_aws_env(settings: Settings) -> None:
    """Point this process's AWS SDK clients at the configured object storage (MLflow takes its
    S3 settings from the environment only)."""
    if uses_object_store(settings):
        os.environ.update(aws_env(settings))

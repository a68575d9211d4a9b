"""The media storage that the settings name: a local folder or an S3-compatible bucket."""

from __future__ import annotations

from typing import Any

from store.media.base import MediaStorage
from store.media.local import LocalMediaStorage
from store.settings import Settings, split_media_url


def s3_client(settings: Settings) -> Any:
    """A boto3 S3 client with timeouts and retries, for AWS or the S3_ENDPOINT_URL server."""
    # Imported here: boto3 takes a noticeable part of a second to import, and only
    # processes that use a bucket need it.
    import boto3
    from botocore.config import Config

    options: dict[str, Any] = {
        "connect_timeout": 5,
        "read_timeout": 60,
        # Standard mode retries throttling and transient 5xx with backoff, alike everywhere.
        "retries": {"mode": "standard"},
        # SigV4 everywhere: presigned URLs in the old SigV2 fail in newer AWS regions.
        "signature_version": "s3v4",
    }
    if settings.s3_endpoint_url is not None:
        # Self-hosted servers (MinIO, Ceph) are reached by address, where bucket.host names
        # do not resolve; path-style URLs work on all of them and on R2.
        options["s3"] = {"addressing_style": "path"}
        if "request_checksum_calculation" in Config.OPTION_DEFAULTS:
            # boto3 1.36 began sending CRC checksums with every upload; several
            # S3-compatible servers reject them, so send them only where S3 demands one.
            options["request_checksum_calculation"] = "when_required"
            options["response_checksum_validation"] = "when_required"
    # None leaves a value to boto3's own chain (environment, config files, instance role).
    return boto3.session.Session().client(
        "s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region,
        aws_access_key_id=settings.aws_access_key_id,
        aws_secret_access_key=settings.aws_secret_access_key, config=Config(**options))


def build_media(settings: Settings) -> MediaStorage:
    """LocalMediaStorage without MEDIA_URL, else S3MediaStorage on its bucket and prefix."""
    if settings.media_url is None:
        return LocalMediaStorage(settings.media_root)
    bucket, prefix = split_media_url(settings.media_url)  # SettingsError names MEDIA_URL
    from store.media.s3 import S3MediaStorage

    return S3MediaStorage(bucket, prefix, client=s3_client(settings),
                          cache_dir=settings.media_cache_dir,
                          cache_bytes=settings.media_cache_bytes,
                          scratch_root=settings.data_dir / "scratch")

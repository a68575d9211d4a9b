"""Media in an S3-compatible bucket (AWS, MinIO, Ceph, R2), read through a local cache.

Every request goes through boto3, so signing, retries and multipart uploads are the SDK's.
Stages work on local files, so `fetch` keeps downloaded objects in a bounded folder, one
file per key and ETag: a changed object gets a new ETag, hence a new file, and a stale copy
is never served.
"""

from __future__ import annotations

import contextlib
import hashlib
import mimetypes
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from store.media.base import (
    MediaMissing,
    ObjectInfo,
    ScratchFolders,
    StorageNotReady,
    check_key,
)

MiB = 1 << 20
# Error codes S3 and its look-alikes answer for "no such object" (HEAD has no body, so 404).
_MISSING = {"404", "NoSuchKey", "NotFound"}
# HEAD on a bucket that does not exist (HEAD answers carry no body, so often just 404).
_NO_BUCKET = {"404", "NoSuchBucket", "NotFound"}
# Answers that mean the credentials themselves were refused.
_BAD_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken",
                    "ExpiredToken", "AuthorizationHeaderMalformed"}
# A download left behind by a killed process is removed once it is this old.
_STALE_PART_SECONDS = 3600.0


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code"))


def _missing(exc: ClientError) -> bool:
    return _code(exc) in _MISSING


def _touch(path: Path) -> None:
    # mtime is the cache's "last used" time (atime is often not kept). Set from the
    # nanosecond clock: the kernel's own file times tick in milliseconds, too coarse to
    # order files fetched in quick succession.
    now = time.time_ns()
    os.utime(path, ns=(now, now))


def _content_type(object_key: str) -> dict[str, str]:
    # Presigned URLs hand objects to browsers, which play video/mp4 but download
    # S3's default binary/octet-stream.
    guessed, _ = mimetypes.guess_type(object_key)
    return {"ContentType": guessed} if guessed else {}


class S3MediaStorage(ScratchFolders):
    """A bucket, optionally below a key prefix; `fetch` copies objects into `cache_dir`."""

    def __init__(self, bucket: str, prefix: str, *, client: Any, cache_dir: Path,
                 cache_bytes: int, scratch_root: Path,
                 multipart_threshold: int = 16 * MiB) -> None:
        self.bucket = bucket
        self.prefix = check_key(prefix).as_posix() if prefix.strip("/") else ""
        self.client = client
        self.cache_dir = Path(cache_dir)
        self.cache_bytes = cache_bytes
        self.scratch_root = Path(scratch_root)
        # Parts are as big as the threshold; s3transfer raises the size itself when a file
        # would need more than S3's 10,000 parts, and never goes below S3's 5 MiB minimum.
        self.transfer = TransferConfig(multipart_threshold=multipart_threshold,
                                       multipart_chunksize=multipart_threshold)

    def ensure_ready(self) -> str:
        """Create the bucket when it is missing, in the client's region.

        HEAD first: an existing bucket that these credentials may use is left as it is. A
        region other than us-east-1 goes into CreateBucketConfiguration (S3 refuses an
        explicit us-east-1). A bucket another `media init` created meanwhile is fine.
        """
        endpoint = self.client.meta.endpoint_url
        region = self.client.meta.region_name or "us-east-1"
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return f"bucket {self.bucket} already exists at {endpoint}"
        except ClientError as exc:
            if _code(exc) not in _NO_BUCKET:
                raise StorageNotReady(self._refused(exc, endpoint)) from None
        except BotoCoreError as exc:
            raise StorageNotReady(self._unreachable(exc, endpoint)) from None
        options: dict[str, Any] = {}
        if region != "us-east-1":
            options["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self.client.create_bucket(Bucket=self.bucket, **options)
        except ClientError as exc:
            if _code(exc) == "BucketAlreadyOwnedByYou":
                return f"bucket {self.bucket} already exists at {endpoint}"
            raise StorageNotReady(self._refused(exc, endpoint)) from None
        except BotoCoreError as exc:
            raise StorageNotReady(self._unreachable(exc, endpoint)) from None
        return f"bucket {self.bucket} created at {endpoint} (region {region})"

    def _unreachable(self, exc: BotoCoreError, endpoint: str) -> str:
        if isinstance(exc, NoCredentialsError):
            return (f"no S3 credentials for the MEDIA_URL bucket {self.bucket}: set "
                    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        return (f"cannot reach the S3 server {endpoint} of the MEDIA_URL bucket {self.bucket}: "
                f"{exc} (check S3_ENDPOINT_URL)")

    def _refused(self, exc: ClientError, endpoint: str) -> str:
        code = _code(exc)
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        detail = f"{code}: {error.get('Message')}" if error.get("Message") else code
        where = f"bucket {self.bucket} at {endpoint}"
        if code in _BAD_CREDENTIALS:
            return (f"{where} refused the credentials ({detail}): check AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY")
        if code == "BucketAlreadyExists":
            return (f"{where}: the name belongs to another account ({detail}): choose another "
                    "bucket in MEDIA_URL")
        if code in {"403", "AccessDenied"} or status == 403:
            return (f"{where}: access denied ({detail}): check AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY, or MEDIA_URL's bucket belongs to another account")
        if code in {"301", "PermanentRedirect", "IllegalLocationConstraintException"}:
            headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
            actual = headers.get("x-amz-bucket-region")
            lives = f" (it is in {actual})" if actual else ""
            return f"{where} is in another region{lives}: check S3_REGION and MEDIA_URL"
        return f"{where}: {detail} (check MEDIA_URL and S3_ENDPOINT_URL)"

    def object_key(self, key: str) -> str:
        """The bucket key that stores a media key."""
        pure = check_key(key).as_posix()
        return f"{self.prefix}/{pure}" if self.prefix else pure

    def _media_key(self, object_key: str) -> str:
        return object_key[len(self.prefix) + 1:] if self.prefix else object_key

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            response: dict[str, Any] = self.client.head_object(Bucket=self.bucket,
                                                               Key=self.object_key(key))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return response

    def exists(self, key: str) -> bool:
        """Whether an object is stored under the key."""
        return self._head(key) is not None

    def stat(self, key: str) -> ObjectInfo | None:
        """Size and ETag (without its quotes) from a HEAD request."""
        head = self._head(key)
        if head is None:
            return None
        return ObjectInfo(key, int(head["ContentLength"]), str(head["ETag"]).strip('"'))

    def put_file(self, key: str, source: Path) -> str:
        """Upload a file, in parts above the multipart threshold.

        Atomic by S3's own rule: an object becomes visible only when its PUT or its
        CompleteMultipartUpload finishes, so a crash mid-upload leaves no half object under
        the key (and s3transfer aborts the unfinished multipart upload when a part fails).
        """
        object_key = self.object_key(key)
        os.stat(source)  # a missing source is FileNotFoundError, as for the local folder
        self.client.upload_file(str(source), self.bucket, object_key, Config=self.transfer,
                                ExtraArgs=_content_type(object_key))
        return key

    def put_bytes(self, key: str, data: bytes) -> str:
        """Store bytes with one PUT (atomic: the object appears when the request finishes)."""
        object_key = self.object_key(key)
        self.client.put_object(Bucket=self.bucket, Key=object_key, Body=data,
                               **_content_type(object_key))
        return key

    def _cache_path(self, object_key: str, etag: str) -> Path:
        # Flat folder, one file per bucket key and ETag; the key's extension stays at the end
        # because tools guess formats from it (ffmpeg, Pillow).
        digest = hashlib.sha256(f"{self.bucket}\0{object_key}\0{etag}".encode()).hexdigest()
        return self.cache_dir / f"{digest[:40]}{PurePosixPath(object_key).suffix[:16]}"

    def fetch(self, key: str) -> Path:
        """A cached local copy of the object's current version, downloaded when missing."""
        object_key = self.object_key(key)
        for _ in range(3):  # another writer may replace the object between HEAD and GET
            head = self._head(key)
            if head is None:
                raise MediaMissing(f"no media stored under {key!r}")
            etag = str(head["ETag"])
            cached = self._cache_path(object_key, etag.strip('"'))
            if cached.is_file():
                with contextlib.suppress(FileNotFoundError):  # evicted by another process
                    _touch(cached)
                    return cached
            if self._download(key, etag, cached):
                self._evict(keep=cached)
                return cached
        # Not MediaMissing: the object exists, and a later try will most likely succeed.
        raise OSError(f"media under {key!r} kept changing while it was downloaded")

    def _download(self, key: str, etag: str, target: Path) -> bool:
        """Download exactly the version `etag` into `target`; False if it was replaced."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        # Unique per thread and process: concurrent fetches of one key never share a file,
        # and the last os.replace wins with identical content.
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            try:
                response = self._get(key, IfMatch=etag)
            except ClientError as exc:
                if _code(exc) in {"412", "PreconditionFailed"}:  # If-Match: replaced since HEAD
                    return False
                raise
            # closing(), not `with Body`: StreamingBody.__enter__ hands out the raw urllib3
            # stream, which has no iter_chunks.
            with contextlib.closing(response["Body"]) as body, temporary.open("wb") as handle:
                for chunk in body.iter_chunks(MiB):
                    handle.write(chunk)
            _touch(temporary)
            os.replace(temporary, target)
            return True
        finally:
            temporary.unlink(missing_ok=True)

    def _evict(self, keep: Path) -> None:
        """Remove least recently used copies until the cache fits `cache_bytes`.

        The file just fetched stays even when it alone is bigger than the limit.
        """
        entries = []
        now = time.time()
        for path in self.cache_dir.iterdir():
            try:
                st = path.stat()
            except FileNotFoundError:  # another process evicted or renamed it meanwhile
                continue
            if path.name.startswith("."):
                if now - st.st_mtime > _STALE_PART_SECONDS:
                    path.unlink(missing_ok=True)
                continue
            entries.append((st.st_mtime, st.st_size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.cache_bytes:
                break
            if path == keep:
                continue
            path.unlink(missing_ok=True)
            total -= size

    def _get(self, key: str, **params: Any) -> dict[str, Any]:
        """GET the object; MediaMissing when there is none, other errors as boto3 raised them."""
        try:
            response: dict[str, Any] = self.client.get_object(
                Bucket=self.bucket, Key=self.object_key(key), **params)
        except ClientError as exc:
            if _missing(exc):
                raise MediaMissing(f"no media stored under {key!r}") from None
            raise
        return response

    def read_bytes(self, key: str) -> bytes:
        """The whole object, straight from the bucket (no cache)."""
        response = self._get(key)
        with contextlib.closing(response["Body"]) as body:
            data: bytes = body.read()
        return data

    def iter_range(self, key: str, start: int, end: int,
                   chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """Bytes start..end (inclusive) with one ranged GET, streamed in chunks."""
        try:
            response = self._get(key, Range=f"bytes={start}-{end}")
        except ClientError as exc:
            if _code(exc) == "InvalidRange":
                return  # start lies past the end: nothing, as for a local file
            raise
        with contextlib.closing(response["Body"]) as body:
            yield from body.iter_chunks(chunk_size)

    def list(self, prefix: str) -> list[str]:
        """Keys below `prefix/`, every page of the listing, without the storage prefix."""
        folder = self.object_key(prefix) + "/"
        keys = []
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                      Prefix=folder)
        for page in pages:
            keys.extend(self._media_key(item["Key"]) for item in page.get("Contents", ()))
        return sorted(keys)

    def delete(self, key: str) -> None:
        """Delete the object; S3 answers a missing one with success too."""
        self.client.delete_object(Bucket=self.bucket, Key=self.object_key(key))

    def copy(self, source_key: str, target_key: str) -> str:
        """Server-side copy, in parts for large objects; the target appears when it is done."""
        source, target = self.object_key(source_key), self.object_key(target_key)
        if source == target:  # S3 refuses copying an object onto itself unchanged
            if not self.exists(source_key):
                raise MediaMissing(f"no media stored under {source_key!r}")
            return target_key
        try:
            self.client.copy({"Bucket": self.bucket, "Key": source}, self.bucket, target,
                             Config=self.transfer)
        except ClientError as exc:
            if _missing(exc):
                raise MediaMissing(f"no media stored under {source_key!r}") from None
            raise
        return target_key

    def move(self, source_key: str, target_key: str) -> str:
        """Copy, then delete the source: S3 has no rename, but the target still appears whole."""
        self.copy(source_key, target_key)
        if self.object_key(source_key) != self.object_key(target_key):
            self.delete(source_key)
        return target_key

    def presign(self, key: str, expires: int = 3600) -> str | None:
        """A GET URL signed for `expires` seconds."""
        url: str = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self.object_key(key)},
            ExpiresIn=expires)
        return url

    def describe(self, key: str) -> str:
        """The object's s3:// URL."""
        return f"s3://{self.bucket}/{self.object_key(key)}"

    def close(self) -> None:
        """Close the client's pooled connections."""
        self.client.close()

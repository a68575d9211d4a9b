"""Serve an object from media storage over HTTP: whole, by Range, or by presigned redirect."""

from __future__ import annotations

from flask import Response, redirect, request, stream_with_context
from werkzeug.exceptions import RequestedRangeNotSatisfiable

from api.errors import ApiError
from store.media import MediaStorage


def serve_object(media: MediaStorage, key: str, *, mimetype: str, download_name: str,
                 presign: bool = False) -> Response:
    """The object as a download; `Range` gets 206 with ranged reads from the store.

    With `presign` and a store that can sign URLs the client is sent (302) straight to it.
    """
    info = media.stat(key)
    if info is None:
        raise ApiError(410, "video_gone", "the video file is no longer in media storage")
    if presign:
        url = media.presign(key)
        if url is not None:
            response = redirect(url, code=302)
            response.headers["Cache-Control"] = "no-store"
            return response
    headers = {"Accept-Ranges": "bytes", "ETag": f'"{info.etag}"', "Cache-Control": "no-cache",
               "Content-Disposition": f'inline; filename="{download_name}"'}
    if request.if_none_match and info.etag in request.if_none_match:
        return Response(status=304, headers=headers)
    start, end, status = 0, info.size - 1, 200
    wanted = request.range
    if_range = request.if_range  # a Range that names an older version gets the whole file
    current = (if_range.etag is None and if_range.date is None) or if_range.etag == info.etag
    if wanted is not None and current:
        span = wanted.range_for_length(info.size)
        if span is None:
            raise RequestedRangeNotSatisfiable(length=info.size)
        start, end, status = span[0], span[1] - 1, 206
        headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
    headers["Content-Length"] = str(end - start + 1)
    body = media.iter_range(key, start, end) if info.size else iter(())
    return Response(stream_with_context(body), status=status, mimetype=mimetype,
                    headers=headers, direct_passthrough=True)

"""Multipart form bodies, read as they stream in.

Litestar's own reader hands every few kilobytes of a file part to a worker thread to be written
to its spooled file: a large upload spends most of its time in those hand-offs. Here a file
part's bytes are gathered and written a few megabytes at a time, into the same `UploadFile`s,
so handlers read a form exactly as they would Litestar's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import anyio
from litestar import Request
from litestar._multipart import parse_content_header
from litestar.datastructures import UploadFile
from multipart import MultipartSegment, ParserError, ParserLimitReached, PushMultipartParser

from lakehouse.errors import InvalidInputError, PayloadTooLargeError

Form = dict[str, Any]
"""A handler's `form` parameter: the request's multipart form, as `read_form` gives it."""
# Bytes of a file part gathered before one write in a worker thread.
WRITE_BYTES = 8 * 1024 * 1024
# Parts a form may have, as Litestar allows by default.
PART_LIMIT = 1000


class _FilePart:
    """A file part being received: its `UploadFile`, and bytes not yet written to it."""

    def __init__(self, segment: MultipartSegment) -> None:
        self.upload = UploadFile(
            content_type=segment.content_type or "application/octet-stream",
            filename=segment.filename or "",
            headers=dict(segment.headerlist),
        )
        self._pending: list[bytes] = []
        self._size = 0

    async def add(self, data: bytes) -> None:
        self._pending.append(data)
        self._size += len(data)
        if self._size >= WRITE_BYTES:
            await self.flush()

    async def flush(self) -> None:
        if self._pending:
            pending, self._pending, self._size = self._pending, [], 0
            await anyio.to_thread.run_sync(self.upload.file.writelines, pending)

    async def finish(self) -> UploadFile:
        await self.flush()
        await anyio.to_thread.run_sync(self.upload.file.seek, 0)
        return self.upload


async def read_form(request: Request[Any, Any, Any]) -> Form:
    """The request's multipart form: each field's text, or `UploadFile` for a file part; a
    field sent more than once as a list. A body that is not a well-formed multipart form is
    refused (422; too many parts, 413), and files already received are closed."""
    media_type, options = parse_content_header(request.headers.get("Content-Type", ""))
    boundary = options.get("boundary")
    if media_type != "multipart/form-data" or not boundary:
        raise InvalidInputError(
            "the body must be a multipart form (Content-Type: multipart/form-data)", field="body"
        )
    fields: defaultdict[str, list[Any]] = defaultdict(list)
    part: _FilePart | bytearray | None = None
    name, charset = "", "utf-8"
    chunks = request.stream()
    chunk = await anext(chunks, b"")
    if not chunk:  # no body: an empty form, as Litestar reads it
        return {}
    try:
        with PushMultipartParser(boundary.encode(), max_segment_count=PART_LIMIT) as parser:
            while not parser.closed:
                for event in parser.parse(chunk):
                    if isinstance(event, MultipartSegment):
                        name, charset = event.name, _charset(event.charset)
                        # as Litestar reads forms: a part with an empty file name is text
                        part = _FilePart(event) if event.filename else bytearray()
                    elif event is not None:
                        if isinstance(part, _FilePart):
                            await part.add(event)
                        elif part is not None:
                            part.extend(event)
                    elif isinstance(part, _FilePart):
                        fields[name].append(await part.finish())
                        part = None
                    elif part is not None:
                        fields[name].append(part.decode(charset, errors="replace"))
                        part = None
                chunk = await anext(chunks, b"")
    except ParserLimitReached as exc:
        await _close(fields, part)
        raise PayloadTooLargeError(
            f"the multipart form has too many parts or headers: {exc}", field="body"
        ) from exc
    except ParserError as exc:
        await _close(fields, part)
        raise InvalidInputError(f"the multipart form cannot be read: {exc}", field="body") from exc
    except BaseException:
        await _close(fields, part)
        raise
    return {key: values if len(values) > 1 else values[0] for key, values in fields.items()}


async def provide_form(request: Request[Any, Any, Any]) -> AsyncIterator[Form]:
    """The request's form (`read_form`) for a handler; its files are closed, their spooled
    copies removed, once the handler has answered."""
    form = await read_form(request)
    try:
        yield form
    finally:
        await _close(
            {key: value if isinstance(value, list) else [value] for key, value in form.items()},
            None,
        )


def _charset(declared: str | None) -> str:
    """A text part's charset as Python names it; UTF-8 when none or one Python does not know."""
    import codecs

    try:
        return codecs.lookup(declared or "utf-8").name
    except LookupError:
        return "utf-8"


async def _close(fields: dict[str, list[Any]], part: _FilePart | bytearray | None) -> None:
    uploads = [value for values in fields.values() for value in values]
    if isinstance(part, _FilePart):
        uploads.append(part.upload)
    for upload in uploads:
        if isinstance(upload, UploadFile):
            await upload.close()

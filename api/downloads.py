"""Downloads of files in the landing store, streamed from wherever the store keeps them."""

from __future__ import annotations

import mimetypes
import unicodedata
from urllib.parse import quote

from litestar.response import Stream

from lakehouse.data.landing import LandingStore, safe_file_name


def content_disposition(file_name: str) -> str:
    """An attachment saved under the file's safe name (RFC 6266): `filename` in ASCII for every
    client, and the name itself in `filename*` when it is not plain ASCII."""
    name = safe_file_name(file_name)
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    # Some clients decode %XX in `filename`, which is meant to be taken literally.
    fallback = safe_file_name(ascii_name.replace("%", "_"))
    disposition = f'attachment; filename="{fallback}"'
    if fallback != name:
        disposition += f"; filename*=UTF-8''{quote(name, safe='')}"
    return disposition


def landed_file(
    landing: LandingStore, tenant_id: str, relative_path: str, file_name: str
) -> Stream:
    """A tenant's file as a download; NotFoundError before anything is sent when it is not
    there."""
    size, chunks = landing.read_chunks(tenant_id, relative_path)
    return Stream(
        chunks,
        media_type=mimetypes.guess_type(file_name)[0] or "application/octet-stream",
        headers={
            "Content-Disposition": content_disposition(file_name),
            "Content-Length": str(size),
        },
    )

"""The landing store: raw uploaded files, kept per tenant and dataset exactly as they arrived."""

from __future__ import annotations

import hashlib
import re
import secrets
import shutil
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from lakehouse.errors import InvalidInputError, NotFoundError, PayloadTooLargeError

CHUNK = 1024 * 1024
MAX_FILE_NAME = 200


def safe_file_name(file_name: str) -> str:
    """The last path part of a client's file name, without characters a file system fears."""
    base = PurePosixPath(file_name.replace("\\", "/")).name
    base = unicodedata.normalize("NFC", base)
    base = re.sub(r"[\x00-\x1f\x7f/]", "", base).strip(" .")
    if not base:
        raise InvalidInputError(f"'{file_name}' is not a usable file name", field="files")
    stem, dot, suffix = base.rpartition(".")
    if len(base) > MAX_FILE_NAME:
        base = (
            (stem[: MAX_FILE_NAME - len(suffix) - 1] + dot + suffix)
            if dot
            else base[:MAX_FILE_NAME]
        )
    return base


@dataclass(frozen=True)
class LandedFile:
    """A file in the landing store; `relative_path` is its path inside the tenant's area."""

    relative_path: str
    path: Path
    size_bytes: int
    sha256: str


class LandingStore:
    """Files under `<root>/<tenant>/<dataset>/<token>_<name>`; a tenant reaches only its own."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def tenant_area(self, tenant_id: str) -> Path:
        return self.root / re.sub(r"[^0-9a-f-]", "", tenant_id.lower())

    def place(self, tenant_id: str, folder: str, file_name: str) -> Path:
        """Where a file the platform writes for a tenant goes: `<folder>/<safe name>`."""
        target = self.tenant_area(tenant_id) / folder / safe_file_name(file_name)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def receive(
        self, tenant_id: str, dataset_id: int, file_name: str, source: BinaryIO, max_bytes: int
    ) -> LandedFile:
        """Copy `source` in chunks into the store; over `max_bytes`, nothing is kept."""
        name = f"{secrets.token_hex(6)}_{safe_file_name(file_name)}"
        folder = self.tenant_area(tenant_id) / str(dataset_id)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
        staged = folder / f".{name}.part"
        digest = hashlib.sha256()
        size = 0
        try:
            with staged.open("wb") as sink:
                while chunk := source.read(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise PayloadTooLargeError(
                            f"file '{file_name}' is larger than the limit of {max_bytes} bytes",
                            field="files",
                        )
                    digest.update(chunk)
                    sink.write(chunk)
            staged.replace(target)
        finally:
            staged.unlink(missing_ok=True)
        return LandedFile(
            relative_path=f"{dataset_id}/{name}",
            path=target,
            size_bytes=size,
            sha256=digest.hexdigest(),
        )

    def resolve(self, tenant_id: str, relative_path: str) -> Path:
        """The file at `relative_path` in the tenant's area; anything outside it is not found."""
        missing = NotFoundError(f"file '{relative_path}' not found", field="file_path")
        area = self.tenant_area(tenant_id).resolve()
        try:
            candidate = (area / relative_path).resolve()
            found = candidate.is_relative_to(area) and candidate.is_file()
        except (ValueError, OSError):  # NUL bytes, names too long for the file system
            raise missing from None
        if not found:
            raise missing
        return candidate

    def remove(self, tenant_id: str, relative_path: str) -> None:
        self.resolve(tenant_id, relative_path).unlink()

    def remove_dataset(self, tenant_id: str, dataset_id: int) -> None:
        shutil.rmtree(self.tenant_area(tenant_id) / str(dataset_id), ignore_errors=True)

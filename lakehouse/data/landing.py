"""The landing store: raw uploaded files, kept per tenant and dataset exactly as they arrived."""

from __future__ import annotations

import fcntl
import hashlib
import io
import re
import secrets
import shutil
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, cast

from lakehouse.errors import NotFoundError, PayloadTooLargeError

CHUNK = 1024 * 1024
# In UTF-8 bytes: with the landed name's token and a `.part` suffix it stays well inside the
# 255 bytes a file system allows a name.
MAX_FILE_NAME = 200
DEFAULT_STEM = "file"
EXTENSION = re.compile(r"[A-Za-z0-9]{1,16}")
# Characters Windows refuses in a name, and the quote that would end a header's filename="...".
RESERVED = re.compile(r'[<>:"|?*]')
PART_SUFFIX = ".part"
LOCK_FILE = ".landing.lock"


def _visible(char: str) -> str:
    """A character as a stored name holds it: controls, format characters (bidi overrides,
    zero-width marks), surrogates and unassigned code points go; any space becomes ' '."""
    category = unicodedata.category(char)
    if category.startswith("C"):
        return ""
    return " " if category.startswith("Z") else char


def safe_file_name(file_name: str) -> str:
    """A client's file name as Strata stores, shows and sends it back.

    Its last path part (after `/` or `\\`), in NFC, without control or format characters,
    leading dots, runs of dots or edge spaces, with `_` for what Windows refuses; its
    extension kept and the whole at most MAX_FILE_NAME bytes of UTF-8. Nothing readable left
    gives `file` plus the extension. Applying it twice changes nothing.
    """
    text = "".join(_visible(char) for char in unicodedata.normalize("NFC", file_name))
    base = re.split(r"[/\\]", text)[-1]
    stem, dot, extension = base.rpartition(".")
    if not dot or not EXTENSION.fullmatch(extension):
        stem, extension = base, ""
    stem = re.sub(r"\.{2,}", ".", RESERVED.sub("_", re.sub(r" {2,}", " ", stem))).strip(" .")
    suffix = f".{extension}" if extension else ""
    room = MAX_FILE_NAME - len(suffix)
    stem = stem.encode()[:room].decode("utf-8", errors="ignore").rstrip(" .")
    return f"{stem or DEFAULT_STEM}{suffix}"


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

    def dataset_folder(self, tenant_id: str, dataset_id: int) -> Path:
        return self.tenant_area(tenant_id) / str(dataset_id)

    def place(self, tenant_id: str, folder: str, file_name: str) -> Path:
        """Where a file the platform writes for a tenant goes: `<folder>/<safe name>`."""
        target = self.tenant_area(tenant_id) / folder / safe_file_name(file_name)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    @staticmethod
    def content_digest(source: BinaryIO) -> str:
        """The SHA-256 `receive` records for a file of this content, `source` rewound after."""
        digest = hashlib.file_digest(cast("io.BufferedIOBase", source), "sha256").hexdigest()
        source.seek(0)
        return digest

    def receive(
        self, tenant_id: str, dataset_id: int, file_name: str, source: BinaryIO, max_bytes: int
    ) -> LandedFile:
        """Copy `source` in chunks into the store; over `max_bytes`, nothing is kept."""
        name = f"{secrets.token_hex(6)}_{safe_file_name(file_name)}"
        folder = self.dataset_folder(tenant_id, dataset_id)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
        staged = folder / f".{name}{PART_SUFFIX}"
        digest = hashlib.sha256()
        size = 0
        try:
            with staged.open("wb") as sink:
                while chunk := source.read(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise PayloadTooLargeError(
                            f"file '{safe_file_name(file_name)}' is larger than the limit of "
                            f"{max_bytes} bytes",
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
        shutil.rmtree(self.dataset_folder(tenant_id, dataset_id), ignore_errors=True)

    def upload_lock(self) -> IO[bytes]:
        """A shared lock on the store, held by an upload until its records are committed or
        rolled back; closing the handle releases it, and so does the death of its process."""
        return self._lock(fcntl.LOCK_SH)

    def sweep_lock(self) -> IO[bytes] | None:
        """The store's lock held alone, or None while any process has an upload in flight."""
        try:
            return self._lock(fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None

    def _lock(self, operation: int) -> IO[bytes]:
        self.root.mkdir(parents=True, exist_ok=True)
        # The lock file is never removed, so every process locks the same file.
        handle = (self.root / LOCK_FILE).open("ab")
        try:
            fcntl.flock(handle.fileno(), operation)
        except BaseException:
            handle.close()
            raise
        return handle

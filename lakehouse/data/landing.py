"""The landing store: raw uploaded files, kept per tenant and dataset exactly as they arrived."""

from __future__ import annotations

import fcntl
import hashlib
import io
import re
import secrets
import shutil
import tempfile
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, BinaryIO, cast

from lakehouse.errors import NotFoundError, PayloadTooLargeError
from lakehouse.settings import Settings
from lakehouse.storage import filesystem, is_object_store, local_path

if TYPE_CHECKING:
    from pyarrow.fs import FileSystem

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
    """A file received into the landing store; `relative_path` is its path inside the tenant's
    area, `path` a local copy that `LandingStore.receive` lets its caller read."""

    relative_path: str
    path: Path
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class StoredFile:
    """A file in the landing store, as a sweep lists it."""

    tenant_area: str
    relative_path: str
    modified_at: datetime | None


class LandingStore:
    """Files under `<root>/<tenant>/<dataset>/<token>_<name>`, in a local directory or an
    object-store bucket; a tenant reaches only its own.

    Files are written whole or not at all: staged on local disk and renamed into place, or
    uploaded from the staged copy (an object appears only once its upload completes). Readers
    get a local path: the file itself, or a temporary copy of the object.
    """

    def __init__(self, root: Path | str, filesystem: FileSystem | None = None) -> None:
        self._filesystem = filesystem
        self.local = filesystem is None or filesystem.type_name == "local"
        self.root = str(Path(root).resolve()) if self.local else str(root).rstrip("/")

    @classmethod
    def from_settings(cls, settings: Settings) -> LandingStore:
        if not is_object_store(settings.landing_url):
            return cls(local_path(settings.landing_url))
        fs, root = filesystem(settings, settings.landing_url)
        return cls(root, fs)

    @property
    def fs(self) -> FileSystem:
        if self._filesystem is None:
            import pyarrow.fs as pafs

            self._filesystem = pafs.LocalFileSystem()
        return self._filesystem

    @staticmethod
    def tenant_folder(tenant_id: str) -> str:
        return re.sub(r"[^0-9a-f-]", "", tenant_id.lower())

    def _area(self, tenant_id: str) -> str:
        return f"{self.root}/{self.tenant_folder(tenant_id)}"

    def _key(self, tenant_id: str, relative_path: str) -> str:
        """The store path of a tenant's file; any path leaving the tenant's area is not found."""
        missing = NotFoundError(f"file '{relative_path}' not found", field="file_path")
        parts = PurePosixPath(relative_path).parts
        if (
            not parts
            or "\\" in relative_path
            or "\x00" in relative_path
            or parts[0] == "/"
            or any(part in (".", "..") for part in parts)
        ):
            raise missing
        key = f"{self._area(tenant_id)}/{'/'.join(parts)}"
        if self.local:
            # A symbolic link inside the area may point out of it.
            area = Path(self._area(tenant_id)).resolve()
            try:
                if not Path(key).resolve().is_relative_to(area):
                    raise missing
            except (ValueError, OSError):  # names too long for the file system
                raise missing from None
        return key

    def _size(self, key: str, relative_path: str) -> int:
        import pyarrow.fs as pafs

        try:
            info = self.fs.get_file_info(key)
        except OSError:
            info = None
        if info is None or info.type != pafs.FileType.File:
            raise NotFoundError(f"file '{relative_path}' not found", field="file_path")
        return int(info.size or 0)

    def size(self, tenant_id: str, relative_path: str) -> int:
        """The size of a tenant's file; NotFoundError when there is none."""
        return self._size(self._key(tenant_id, relative_path), relative_path)

    @staticmethod
    def content_digest(source: BinaryIO) -> str:
        """The SHA-256 `receive` records for a file of this content, `source` rewound after."""
        digest = hashlib.file_digest(cast("io.BufferedIOBase", source), "sha256").hexdigest()
        source.seek(0)
        return digest

    @contextmanager
    def receive(
        self, tenant_id: str, dataset_id: int, file_name: str, source: BinaryIO, max_bytes: int
    ) -> Iterator[LandedFile]:
        """Copy `source` in chunks into the store, over `max_bytes` keeping nothing.

        The block reads the file at the landed file's `path`; when it raises, nothing is kept.
        """
        name = f"{secrets.token_hex(6)}_{safe_file_name(file_name)}"
        relative = f"{dataset_id}/{name}"
        with self._staged(tenant_id, relative) as staged:
            digest = hashlib.sha256()
            size = 0
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
            yield LandedFile(
                relative_path=relative, path=staged, size_bytes=size, sha256=digest.hexdigest()
            )

    @contextmanager
    def write(self, tenant_id: str, folder: str, file_name: str) -> Iterator[Path]:
        """A local path to write a tenant's `<folder>/<safe name>` at; it is stored when the
        block ends without error, replacing a file of that name."""
        with self._staged(tenant_id, f"{folder}/{safe_file_name(file_name)}") as staged:
            yield staged

    @staticmethod
    def relative_path(folder: str, file_name: str) -> str:
        """Where `write(tenant, folder, file_name)` keeps the file, inside the tenant's area."""
        return f"{folder}/{safe_file_name(file_name)}"

    @contextmanager
    def _staged(self, tenant_id: str, relative_path: str) -> Iterator[Path]:
        key = self._key(tenant_id, relative_path)
        if self.local:
            target = Path(key)
            target.parent.mkdir(parents=True, exist_ok=True)
            staged = target.with_name(f".{target.name}{PART_SUFFIX}")
            try:
                yield staged
                staged.replace(target)
            finally:
                staged.unlink(missing_ok=True)
            return
        import pyarrow.fs as pafs

        with tempfile.TemporaryDirectory(prefix="strata-landing-") as scratch:
            staged = Path(scratch) / PurePosixPath(relative_path).name
            yield staged
            pafs.copy_files(str(staged), key, destination_filesystem=self.fs, chunk_size=CHUNK)

    @contextmanager
    def local_copy(self, tenant_id: str, relative_path: str) -> Iterator[Path]:
        """A local path holding a tenant's file while the block runs; NotFoundError when the
        file is not there."""
        key = self._key(tenant_id, relative_path)
        self._size(key, relative_path)
        if self.local:
            yield Path(key)
            return
        import pyarrow.fs as pafs

        with tempfile.TemporaryDirectory(prefix="strata-landing-") as scratch:
            copy = Path(scratch) / PurePosixPath(relative_path).name
            pafs.copy_files(key, str(copy), source_filesystem=self.fs, chunk_size=CHUNK)
            yield copy

    def read_chunks(self, tenant_id: str, relative_path: str) -> tuple[int, Iterator[bytes]]:
        """A tenant's file as its size and its bytes in chunks, for a download; NotFoundError
        at once when it is not there."""
        key = self._key(tenant_id, relative_path)
        size = self._size(key, relative_path)

        def chunks() -> Iterator[bytes]:
            with self.fs.open_input_stream(key) as stream:
                while chunk := stream.read(CHUNK):
                    yield chunk

        return size, chunks()

    def remove(self, tenant_id: str, relative_path: str) -> None:
        key = self._key(tenant_id, relative_path)
        self._size(key, relative_path)
        self.fs.delete_file(key)

    def remove_dataset(self, tenant_id: str, dataset_id: int) -> None:
        self._delete_folder(f"{self._area(tenant_id)}/{dataset_id}")

    def _delete_folder(self, folder: str) -> None:
        if self.local:
            shutil.rmtree(folder, ignore_errors=True)
            return
        with suppress(FileNotFoundError):
            self.fs.delete_dir(folder)

    def dataset_files(self) -> list[StoredFile]:
        """Every file in a dataset folder (`<tenant>/<dataset id>/<name>`), partial ones
        included: what a sweep looks through."""
        import pyarrow.fs as pafs

        try:
            found = self.fs.get_file_info(pafs.FileSelector(self.root, recursive=True))
        except FileNotFoundError:
            return []
        files = []
        prefix = f"{self.root}/"
        for info in found:
            if info.type != pafs.FileType.File or not info.path.startswith(prefix):
                continue
            parts = info.path[len(prefix) :].split("/")
            if len(parts) == 3 and parts[1].isdigit():
                files.append(StoredFile(parts[0], f"{parts[1]}/{parts[2]}", info.mtime))
        return files

    def remove_stored(self, stored: StoredFile) -> None:
        with suppress(FileNotFoundError):
            self.fs.delete_file(f"{self.root}/{stored.tenant_area}/{stored.relative_path}")

    def remove_empty_dataset_folders(self, kept: set[tuple[str, str]]) -> list[str]:
        """Remove the dataset folders left empty that no record names (tenant area, dataset
        id); return their paths relative to the store. Object stores keep no empty folders."""
        if not self.local:
            return []
        removed = []
        root = Path(self.root)
        for area in sorted(p for p in root.iterdir() if p.is_dir()) if root.exists() else []:
            for folder in sorted(p for p in area.iterdir() if p.is_dir() and p.name.isdigit()):
                if (area.name, folder.name) not in kept and not any(folder.iterdir()):
                    folder.rmdir()
                    removed.append(f"{area.name}/{folder.name}")
        return removed

    def upload_lock(self) -> Lock:
        """A shared lock on the store, held by an upload until its records are committed or
        rolled back; closing it releases it, and so does the death of its process.

        Object stores have no lock shared by every host: there, a sweep goes by age instead.
        """
        return self._lock(fcntl.LOCK_SH)

    def sweep_lock(self) -> Lock | None:
        """The store's lock held alone, or None while any process has an upload in flight."""
        try:
            return self._lock(fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None

    def _lock(self, operation: int) -> Lock:
        if not self.local:
            return Lock(None)
        root = Path(self.root)
        root.mkdir(parents=True, exist_ok=True)
        # The lock file is never removed, so every process locks the same file.
        handle = (root / LOCK_FILE).open("ab")
        try:
            fcntl.flock(handle.fileno(), operation)
        except BaseException:
            handle.close()
            raise
        return Lock(handle)


class Lock:
    """A lock on the landing store's lock file (or on nothing, in object storage), released by
    closing it."""

    def __init__(self, handle: IO[bytes] | None) -> None:
        self._handle = handle

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()

    def __enter__(self) -> Lock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

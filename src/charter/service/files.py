"""A version's files: list them, find one by path, read its bytes, download them all.

Every path a caller names goes through ``safe_relative_path`` and is then looked
up among the version's recorded files: bytes are only ever read by digest from
the blob store, so no request path reaches a file system or an object key.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from charter.artifacts.cache import BlobCache
from charter.artifacts.destination import pull_into
from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput, NotFound
from charter.domain.manifest import TreeEntry, list_folder
from charter.domain.paths import safe_relative_path
from charter.domain.records import FileRecord, VersionRecord
from charter.service.base import ServiceBase
from charter.service.ports import Progress
from charter.service.queries import resolve_uri
from charter.service.versions import read_version


class FilesMixin(ServiceBase):
    #: Where blobs fetched from a remote store (S3) are kept for pulls; None when the
    #: blob store is a local folder already (bootstrap sets it).
    cache: BlobCache | None = None

    def list_files(self, name: str, version: int | str) -> VersionRecord:
        """The version, whose ``files`` are its stored files (none for a source-only one)."""
        return read_version(self, name, version)

    def get_file(self, name: str, version: int | str, path: str) -> FileRecord:
        safe_relative_path(path)  # a hostile path is refused before any lookup
        return read_version(self, name, version).file_at(path)

    def list_folder(self, name: str, version: int | str, folder: str = "") -> list[TreeEntry]:
        """The direct children of a folder of the version (MLflow's artifact listing)."""
        folder = safe_relative_path(folder) if folder else ""
        record = read_version(self, name, version)
        children = list_folder([(f.path, f.size) for f in record.files], folder)
        if children is None:
            raise NotFound(codes.FILE_NOT_FOUND, f"{record.uri} has no file or folder {folder!r}",
                           "list the version's files first")
        return children

    def read_file(self, file: FileRecord, start: int = 0, stop: int | None = None
                  ) -> Iterator[bytes]:
        """The bytes [start, stop) of a stored file, straight from the blob store."""
        return self.blobs.iter_chunks(file.sha256, start, stop)

    def download(self, uri: str, dest: str | Path, progress: Progress | None = None) -> Path:
        """Copy a version's files into ``dest``, hashing every byte on the way; all of
        them or, on any refusal or error, none (``charter.artifacts.destination``)."""
        resolution = resolve_uri(self, uri)
        if not resolution.version.files:
            raise no_files(resolution.version)
        by_path = {file.path: file for file in resolution.version.files}

        def put(path: str, staged: Path) -> None:
            file = by_path[path]
            if self.cache is None:
                self.blobs.copy_to(file.sha256, staged, progress)
            else:
                self.cache.deliver(file.sha256, file.size, self._fetcher(file.sha256), staged,
                                   progress)

        return pull_into(dest, list(by_path), put)

    def _fetcher(self, digest: str):  # type: ignore[no-untyped-def]
        def fetch(offset: int) -> tuple[int, Iterator[bytes]]:
            return offset, self.blobs.iter_chunks(digest, offset)
        return fetch


def no_files(version: VersionRecord) -> InvalidInput:
    return InvalidInput(
        codes.VERSION_NO_FILES, f"{version.uri} has no files stored in Charter",
        f"its source is {version.source or '(none)'}; fetch it from there")

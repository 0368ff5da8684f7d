"""Moving model files to and from a Charter server: upload a version, fetch its blobs.

Control calls (start, commit, resolve) go through the client's httpx session.
File bodies go through the standard library's ``http.client`` instead, which gives
the socket itself: an upload is sent with ``sendfile`` while a helper thread checksums
the file, and a download is spliced from the socket into the cache file while a
helper thread hashes it from there (Linux, plain HTTP; over TLS both move in
chunks, read a chunk ahead). hashlib and the kernel copies release the GIL, and at
most a few chunks are held in memory whatever the file size.

Integrity: the server computes the sha256 of every byte it stores (the blob's name).
An upload is checked end to end with XXH3-128: this side computes it from the file
while it is sent, the server over what it received, and a difference refuses the
file (with a digest-first store, the server checks the sha256 sent ahead instead).
A download is published into the cache only when its sha256, computed here, matches
the version's record.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit

import xxhash

from charter.artifacts.common import digest_mismatch, transit_mismatch
from charter.artifacts.tree import local_files
from charter.client.response_body import ResponseBody
from charter.client.session import ACTOR_HEADER, Session, api_base, kind_of, tls_context
from charter.domain import error_codes as codes
from charter.domain.errors import CharterError, error_from_dict
from charter.fileio import CHUNK, Progress
from charter.fileio.hashing import FileHash
from charter.fileio.sockets import send_file

UPLOAD_WORKERS = 4
LARGE_FILE = 64 * 1024 * 1024
SHA256_HEADER = "X-Charter-Sha256"


@dataclass(frozen=True)
class LocalFile:
    path: str        # the relative POSIX path the version will know it by
    file: Path
    size: int


class Transfers:
    """Bulk HTTP bodies for one server, with the session's credentials and actor."""

    def __init__(self, session: Session, actor: str, *, timeout: float = 300.0) -> None:
        self.session = session
        base = urlsplit(api_base(session.url))
        self._scheme, self._host, self._port = base.scheme, base.hostname or "", base.port
        self._prefix = base.path.rstrip("/")
        self._timeout = timeout
        self._headers = {"User-Agent": session.client.headers.get("user-agent", "charter"),
                         "Accept-Encoding": "identity", ACTOR_HEADER: actor}
        if "authorization" in session.client.headers:
            self._headers["Authorization"] = session.client.headers["authorization"]

    # ---- plumbing ----------------------------------------------------------------------

    def _connect(self) -> tuple[http.client.HTTPConnection, str]:
        """A fresh connection, and the request target for paths (absolute via a proxy)."""
        https = self._scheme == "https"
        port = self._port or (443 if https else 80)
        proxy = _proxy_for(self._scheme, self._host)
        options: dict[str, Any] = {"timeout": self._timeout, "blocksize": CHUNK}
        if https:
            options["context"] = tls_context()
        cls = http.client.HTTPSConnection if https else http.client.HTTPConnection
        if proxy is None:
            return cls(self._host, port, **options), self._prefix
        target = urlsplit(proxy)
        if https:  # tunnel through the proxy; TLS is still end to end
            connection = cls(target.hostname or "", target.port or 443, **options)
            connection.set_tunnel(self._host, port)
            return connection, self._prefix
        connection = http.client.HTTPConnection(target.hostname or "", target.port or 80,
                                                **options)
        return connection, f"http://{self._host}:{port}{self._prefix}"

    def _fail(self, response: http.client.HTTPResponse, method: str, path: str
              ) -> CharterError:
        body = response.read(1024 * 1024)
        try:
            error = json.loads(body)["error"]
            if not isinstance(error, dict):
                raise TypeError(error)
        except (ValueError, KeyError, TypeError):
            return CharterError(codes.SERVER_BAD_ANSWER, f"{method} {path} answered "
                                f"{response.status} without a Charter error body",
                                "is the URL a Charter server (not a proxy or another service)?",
                                {"status": response.status, "body": body[:500].decode(
                                    "utf-8", "replace")})
        return error_from_dict(error.get("kind") or kind_of(response.status, error), error)

    def _unreachable(self, error: OSError) -> CharterError:
        return CharterError(codes.SERVER_UNREACHABLE, f"Cannot reach the Charter server at "
                            f"{self.session.url}: {error}", "check the URL and that "
                            "`charter serve` is running", {"url": self.session.url})

    # ---- the two transfers --------------------------------------------------------------

    def put_file(self, path: str, local: LocalFile, *, expected: str | None,
                 progress: Progress | None) -> dict[str, Any]:
        """PUT a file as the raw body and check that it arrived intact; the server's answer.

        The body goes out with ``sendfile`` (TLS: in chunks). With ``expected`` (the
        file's sha256, hashed before) the server checks the bytes against it;
        otherwise a helper thread computes the file's XXH3-128 from the page cache
        while it is sent, and it must equal the one the server computed over what it
        received. A file that changes meanwhile fails either check and is refused.
        """
        headers = {**self._headers, "Content-Type": "application/octet-stream",
                   "Content-Length": str(local.size)}
        if expected:
            headers[SHA256_HEADER] = expected
        checking = None if expected else FileHash(local.file, local.size, xxhash.xxh3_128)
        connection, prefix = self._connect()
        try:
            with open(local.file, "rb") as stream:
                connection.putrequest("PUT", prefix + path, skip_accept_encoding=True)
                for name, value in headers.items():
                    connection.putheader(name, value)
                connection.endheaders()
                _send_body(connection, stream, local.size, progress)
            response = connection.getresponse()
            if response.status >= 400:
                raise self._fail(response, "PUT", path)
            answer: dict[str, Any] = json.loads(response.read())
        except BaseException as error:
            if checking is not None:
                checking.stop()  # only on failure: a slow checksum must still finish
            if isinstance(error, OSError):
                raise self._unreachable(error) from error
            raise
        finally:
            connection.close()
        if checking is not None and answer.get("xxh3_128") != (mine := _result(checking)):
            raise transit_mismatch(mine, str(answer.get("xxh3_128")), local.path)
        if expected and answer["sha256"] != expected:
            raise digest_mismatch(expected, answer["sha256"], f"{local.path} as the server "
                                  "stored it")
        return answer

    def get_file(self, path: str, offset: int = 0) -> tuple[int, Iterable[memoryview]]:
        """GET a file from ``offset`` (Range); (the offset the bytes start at, the bytes)."""
        headers = dict(self._headers)
        if offset:
            headers["Range"] = f"bytes={offset}-"
        connection, prefix = self._connect()
        try:
            connection.request("GET", prefix + path, headers=headers)
            sock = connection.sock  # getresponse() lets go of it when the answer says close
            response = connection.getresponse()
        except OSError as error:
            connection.close()
            raise self._unreachable(error) from error
        if response.status == 416 and offset:  # the partial outgrew the file: start over
            connection.close()
            return self.get_file(path, 0)
        if response.status >= 400:
            try:
                raise self._fail(response, "GET", path)
            finally:
                connection.close()
        start = offset if response.status == 206 else 0
        return start, ResponseBody(response, connection, sock)


# ---- registering from local files -------------------------------------------------------

def upload_version(session: Session, actor: str, name: str, root: Path, *,
                   options: dict[str, Any], create_model: bool = True,
                   progress: Progress | None = None, skip: Path | None = None
                   ) -> dict[str, Any]:
    """Start a session, upload every file, commit with the manifest; abort on any failure.

    ``skip`` is a signature file inside the folder: not part of the model it signs."""
    leave_out = skip.resolve() if skip is not None else None
    files = [LocalFile(path, file, file.stat().st_size) for path, file in local_files(root)
             if leave_out is None or Path(file).resolve() != leave_out]
    model = f"/models/{quote(name, safe='')}"
    started = session.call("POST", f"{model}/uploads", actor=actor,
                           json={"create_model": create_model})
    upload = f"{model}/uploads/{started['upload_id']}"
    transfers = Transfers(session, actor)
    try:
        manifest = _upload_all(transfers, upload, files, started["wants_digest_first"], progress)
        return session.call("POST", f"{upload}/commit", actor=actor,  # type: ignore[no-any-return]
                            json={"files": manifest, **options})
    except BaseException:
        try:
            session.call("DELETE", upload, actor=actor)
        except CharterError:
            pass  # the server collects an abandoned session anyway (charter gc)
        raise


def _upload_all(transfers: Transfers, upload: str, files: list[LocalFile],
                digest_first: bool, progress: Progress | None) -> list[dict[str, Any]]:
    def send(local: LocalFile) -> dict[str, Any]:
        expected = hash_file(local.file, local.size) if digest_first else None
        answer = transfers.put_file(f"{upload}/files/{quote(local.path, safe='/')}", local,
                                    expected=expected, progress=progress)
        if answer["size"] != local.size:
            raise file_changed(local.path)
        return {"path": local.path, "size": local.size, "sha256": answer["sha256"]}

    # Small files side by side (each is mostly round trips); large ones one at a time,
    # since one already keeps the link and the disk busy.
    small = [f for f in files if f.size < LARGE_FILE]
    with ThreadPoolExecutor(max_workers=UPLOAD_WORKERS) as pool:
        manifest = list(pool.map(send, small))
    return manifest + [send(f) for f in files if f.size >= LARGE_FILE]


def hash_file(path: Path, size: int) -> str:
    """The sha256 of a file's first ``size`` bytes (its size when it was listed)."""
    return _result(FileHash(path, size, hashlib.sha256))


# ---- streams ---------------------------------------------------------------------------

def _send_body(connection: http.client.HTTPConnection, stream: BinaryIO, size: int,
               progress: Progress | None) -> None:
    """Send exactly ``size`` bytes of ``stream``: by the kernel on a plain socket."""
    try:
        send_file(connection.sock, stream, size, progress)
    except EOFError:
        raise file_changed(stream.name) from None


def _result(hashing: FileHash) -> str:
    """The file's hash; ``upload.file_changed`` if it became shorter than its listed size."""
    try:
        return hashing.result()
    except EOFError:
        raise file_changed(str(hashing.path)) from None


def file_changed(name: str) -> CharterError:
    return CharterError(codes.UPLOAD_FILE_CHANGED, f"{name} became shorter while it was uploaded",
                        "upload it again once nothing writes to it")


def _proxy_for(scheme: str, host: str) -> str | None:
    """The proxy the environment names for this server, as httpx would use it."""
    proxies = urllib.request.getproxies()
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    return proxy

"""What checking a model signature costs the server, against model_signing's own verify.

model_signing's ``verify(model_path, signature)`` checks the signature and then re-hashes
every byte of the model folder. Charter already hashed the bytes on upload, so it checks
the signature and compares the signed manifest with the stored digests
(``charter.signing.model_bundles.verify_bundle`` + ``domain.signed_files``). This script
signs a folder with an ECDSA P-256 key and times both, cold (page cache dropped for the
folder where the kernel allows it: ``posix_fadvise(DONTNEED)``) and warm::

    python bench/signatures.py --size-mib 1024 --files 1 --rounds 3
    python bench/signatures.py --size-mib 64 --files 2000 --rounds 3

Report: markdown on stdout, with the load average before and after.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.provenance_kit import make_key, sign_with_key  # noqa: E402

from charter.domain.signed_files import check_signed_files  # noqa: E402
from charter.signing.envelopes import load_signer_key  # noqa: E402
from charter.signing.model_bundles import verify_bundle  # noqa: E402


def make_folder(root: Path, size_mib: int, files: int) -> list[tuple[str, str]]:
    per_file = size_mib * 1024 * 1024 // files
    block = os.urandom(1024 * 1024)
    digests = []
    for index in range(files):
        path = root / f"part-{index:05d}.bin"
        hasher = hashlib.sha256()
        with path.open("wb") as out:
            left = per_file
            while left:
                chunk = block[:min(left, len(block))]
                out.write(chunk)
                hasher.update(chunk)
                left -= len(chunk)
        digests.append((path.name, hasher.hexdigest()))
    return digests


def drop_cache(root: Path) -> None:
    for path in root.iterdir():
        with path.open("rb") as file:
            os.fsync(file.fileno())
            os.posix_fadvise(file.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def timed(step: object, rounds: int, before: object = None) -> list[float]:
    times = []
    for _ in range(rounds):
        if callable(before):
            before()
        started = time.perf_counter()
        step()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--files", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import model_signing.verifying

    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="charter-sigbench-"))
    try:
        folder = work / "model"
        folder.mkdir()
        digests = make_folder(folder, args.size_mib, args.files)
        key = make_key(work / "keys")
        signature = sign_with_key(folder, key, work / "model.sig")
        bundle, signer_key = signature.read_bytes(), load_signer_key(key.public_pem)

        def charter() -> None:
            signed = verify_bundle(bundle, keys=[signer_key], certificate_roots=[])
            check_signed_files(signed, digests, subject="bench/1")

        def library() -> None:
            model_signing.verifying.Config().use_elliptic_key_verifier(
                public_key=key.public_path).verify(folder, signature)

        rows = [("Charter: signature + stored digests", timed(charter, args.rounds)),
                ("model_signing verify, cold cache",
                 timed(library, args.rounds, lambda: drop_cache(folder))),
                ("model_signing verify, warm cache", timed(library, args.rounds))]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.size_mib} MiB in {args.files} file(s), {args.rounds} rounds; load average "
          f"{load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after\n")
    print("| check | median s | min s |\n|---|---|---|")
    for name, times in rows:
        print(f"| {name} | {statistics.median(times):.3f} | {min(times):.3f} |")


if __name__ == "__main__":
    main()

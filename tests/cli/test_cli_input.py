"""The command line decodes its arguments once: bytes that are not UTF-8 are refused.

Python keeps an argument's undecodable bytes as lone surrogates (``\\udcff``); they
failed deep in SQLite with a ``UnicodeEncodeError`` traceback. The real entry point
runs in a subprocess with raw bytes in its argv and environment.
"""

from __future__ import annotations

import os
import subprocess
import sys


def charter(home, *args: bytes, env: dict[bytes, bytes] | None = None):  # type: ignore[no-untyped-def]
    environ = {k.encode(): v.encode() for k, v in os.environ.items()
               if not k.startswith("CHARTER_")}
    environ.update({b"CHARTER_HOME": str(home).encode(), b"NO_COLOR": b"1", **(env or {})})
    return subprocess.run([sys.executable.encode(), b"-m", b"charter.cli.main", *args],
                          env=environ, capture_output=True, timeout=120)


def test_an_argument_that_is_not_utf8_is_one_error_line(tmp_path):
    home = tmp_path / "home"
    assert charter(home, b"register", b"fraud_detector", b"s3://models/k").returncode == 0
    for args in ([b"tag", b"fraud_detector", b"team=x\xff"], [b"register", b"fraud\xffx",
                                                              b"s3://models/k"],
                 [b"describe", b"fraud_detector", b"caf\xe9"]):
        done = charter(home, *args)
        assert done.returncode == 3, done.stderr
        lines = done.stderr.decode().splitlines()
        assert b"Traceback" not in done.stderr and len(lines) == 2, lines
        assert lines[0].startswith("error: argument ") and "[argument.invalid_text]" in lines[0]


def test_a_charter_variable_that_is_not_utf8_is_refused_too(tmp_path):
    done = charter(tmp_path / "home", b"ls", env={b"CHARTER_ACTOR": b"ana\xff"})
    assert done.returncode == 3 and b"$CHARTER_ACTOR is not valid UTF-8" in done.stderr

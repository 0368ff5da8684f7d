"""Fixtures the end-to-end modules share.

* ``server_url``: a fresh Charter server on SQLite for one test.
* ``server``: one Charter server for the whole module (tests use names of their own).
* ``template_home``: a migrated, empty embedded registry; each test copies it.
* ``registry``: the same test run twice, embedded (a copy of ``template_home``) and
  remote (against ``server``), acting as the module's ``ACTOR``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import charter
from charter.client.remote import RemoteRegistry
from tests.e2e.server import running_server


@pytest.fixture
def server_url(tmp_path):
    """A fresh Charter server on SQLite for one test."""
    with running_server(tmp_path) as url:
        yield url


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("server")) as url:
        yield url


@pytest.fixture(scope="module")
def template_home(tmp_path_factory) -> Path:
    """A migrated, empty embedded registry; each test starts from a copy of it."""
    home = tmp_path_factory.mktemp("template")
    charter.connect(home).db.dispose()
    return home


@pytest.fixture(params=["embedded", "remote"])
def registry(request, tmp_path):
    actor = request.module.ACTOR
    if request.param == "embedded":
        home = tmp_path / "home"
        home.mkdir()
        shutil.copyfile(request.getfixturevalue("template_home") / "charter.db",
                        home / "charter.db")
        embedded = charter.connect(home, actor=actor)
        yield embedded
        embedded.db.dispose()
        return
    remote = RemoteRegistry(request.getfixturevalue("server"), actor=actor)
    yield remote
    remote.close()

"""A local S3-speaking server for the tests: moto's server mode, on a free loopback port.

The server keeps its buckets in memory for the session; every test makes its own bucket.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Dummy credentials: moto accepts any, boto3 insists on having some.
S3_ENV = {"AWS_ACCESS_KEY_ID": "charter-test", "AWS_SECRET_ACCESS_KEY": "charter-test",
          "AWS_DEFAULT_REGION": "us-east-1"}


@contextmanager
def moto_s3() -> Iterator[str]:
    """Start moto's S3 server; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name=S3_ENV["AWS_DEFAULT_REGION"],
                        aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"])


def new_bucket(client: Any) -> str:
    name = f"charter-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return name


def all_keys(client: Any, bucket: str) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]

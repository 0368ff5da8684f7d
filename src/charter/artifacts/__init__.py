"""Content-addressed blobs: a local folder (default) and S3 (docs/artifacts.md)."""

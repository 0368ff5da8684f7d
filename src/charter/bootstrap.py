"""The one place that wires settings to the store, the blob store and the service.

``check_settings`` refuses what ``build_service`` would refuse in the settings without
building anything; it is what a read-only start (``charter ls``, store/read_only.py)
runs, so a bad configuration stops it exactly as it stops a full one. The service, the
store's engine and the blob stores are therefore imported by the functions that build
them, not by this module.
"""

from __future__ import annotations

import os
from dataclasses import fields, replace
from typing import TYPE_CHECKING, Any

from charter.config import Settings
from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput

if TYPE_CHECKING:
    from charter.domain.naming import NamingPolicy
    from charter.service import Policies, RegistryService
    from charter.service.ports import BlobStore
    from charter.store.denials import DenialFile

# [naming] keys that extend a shipped word list (docs/configuration.md).
EXTRA_WORDS = {"extra_version_markers": "version_markers", "extra_algorithms": "algorithms",
               "extra_generic_words": "generic_words", "extra_stage_words": "stage_words"}


def naming_policy(settings: Settings) -> NamingPolicy:
    from charter.person_names import default_policy

    policy = default_policy(mode=settings.naming_mode, allow=settings.naming_allow)
    section = settings.extra.get("naming", {})
    extended = {field: getattr(policy, field) | frozenset(w.lower() for w in section[key])
                for key, field in EXTRA_WORDS.items() if key in section}
    return replace(policy, **extended) if extended else policy


def policies_from(settings: Settings) -> Policies:
    from charter.service import Policies

    return Policies(**policy_fields(settings))


def policy_fields(settings: Settings) -> dict[str, Any]:
    """The policies' fields, each parsed (and so checked) from the settings."""
    from charter.domain.access import AccessPolicy, parse_default_role
    from charter.domain.consumers import parse_consumer_settings
    from charter.domain.gates import parse_gate_policy
    from charter.domain.lifecycle import DEFAULT_TABLE
    from charter.domain.retention import parse_retention_policy
    from charter.domain.signers import parse_signing_policy
    from charter.domain.sources import SourcePolicy
    from charter.domain.webhooks import parse_webhook_settings

    return dict(
        naming=naming_policy(settings),
        transitions=DEFAULT_TABLE.with_edges(settings.extra_transitions),
        sources=SourcePolicy(file_roots=settings.file_roots),
        access=AccessPolicy(default_role=parse_default_role(settings.auth_default_role)),
        gates=parse_gate_policy(settings.extra),
        retention=parse_retention_policy(settings.extra),
        webhooks=parse_webhook_settings(settings.extra),
        signing=parse_signing_policy(settings.extra),
        certificate_roots=settings.certificate_roots,
        tracking_uri=tracking_uri(settings),
        consumers=parse_consumer_settings(settings.extra),
    )


def tracking_uri(settings: Settings) -> str:
    """``[mlflow] tracking_uri``: the MLflow tracking server signatures are read from."""
    section = settings.extra.get("mlflow", {})
    unknown = sorted(set(section) - {"tracking_uri"}) if isinstance(section, dict) else ["?"]
    if unknown:
        raise InvalidInput(codes.CONFIG_INVALID, f"[mlflow]: unknown key(s) {', '.join(unknown)}",
                           'the one key is tracking_uri = "http://mlflow.internal:5000"')
    uri = section.get("tracking_uri")
    if not uri:
        return ""
    from charter.artifacts.tracking import check_tracking_uri

    return check_tracking_uri(uri)


def denial_log(settings: Settings) -> DenialFile:
    """The denied-attempts log, size-capped ([auth] denied_log_max_bytes; docs/access.md)."""
    from charter.store.denials import DenialFile  # logging's handlers, for a service only

    max_bytes, backups = denial_limits(settings)
    return DenialFile(settings.home / "logs" / "denied.log", max_bytes=max_bytes,
                      backups=backups)


def denial_limits(settings: Settings) -> tuple[int, int]:
    """The denied-attempts log's size before it rotates, and the rotated files it keeps."""
    section = settings.extra.get("auth", {})
    return (_count(section.get("denied_log_max_bytes", 1_000_000), "denied_log_max_bytes"),
            _count(section.get("denied_log_backups", 3), "denied_log_backups"))


def _count(value: object, key: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise InvalidInput(codes.CONFIG_INVALID, f"[auth] {key} {str(value)[:40]!r} is not a count",
                       f"give a whole number, e.g. {key} = 3")


def default_actor() -> str:
    import getpass

    try:
        return os.environ.get("CHARTER_ACTOR") or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"


# The charter.toml sections a policy is parsed from (policy_fields, the checkpoint schedule).
POLICY_SECTIONS = frozenset({"naming", "lifecycle", "sources", "evidence", "gates", "models",
                             "retention", "webhooks", "signing", "consumers", "mlflow",
                             "audit"})
# The settings a flag or the environment gives that policy_fields parses.
POLICY_SETTINGS = ("naming_mode", "naming_allow", "extra_transitions", "file_roots",
                   "auth_default_role", "certificate_roots")


def check_settings(settings: Settings) -> None:
    """Raise what ``build_service`` raises for settings with the local blob folder and no
    checkpoint key once the database is open, building nothing: the policies, the
    denied-attempts log's limits and the checkpoint schedule, in its order.

    Settings that configure no policy hold nothing a parser could refuse, so their check
    imports no parser: a plain ``charter ls`` starts ~40 ms sooner (docs/cli.md)."""
    if configures_a_policy(settings):
        from charter.domain.checkpoints import parse_checkpoint_schedule

        policy_fields(settings)
        denial_limits(settings)
        parse_checkpoint_schedule(settings.extra)
    else:
        denial_limits(settings)


def configures_a_policy(settings: Settings) -> bool:
    """Whether any policy differs from its default: a section a parser reads, or a naming,
    lifecycle, sources or access setting given by flag or environment."""
    defaults = {f.name: f.default for f in fields(Settings)}
    return (bool(POLICY_SECTIONS & set(settings.extra))
            or any(getattr(settings, name) != defaults[name] for name in POLICY_SETTINGS))


def build_service(settings: Settings, *, actor: str | None = None,
                  migrate: bool = True) -> RegistryService:
    from charter.artifacts.cache import BlobCache
    from charter.artifacts.local import LocalBlobStore
    from charter.service import RegistryService
    from charter.service.checkpoints import attach_checkpointer
    from charter.store.database import Database

    settings.home.mkdir(parents=True, exist_ok=True)
    database = Database(settings.database_url, migrate=migrate,
                        pool_size=settings.database_pool_size,
                        pool_timeout=settings.database_pool_timeout)
    blobs = blob_store(settings)
    service = RegistryService(database, blobs, policies_from(settings),
                              actor=actor or default_actor(), denials=denial_log(settings))
    if not isinstance(blobs, LocalBlobStore):  # a local folder needs no cache in front of it
        service.cache = BlobCache(settings.cache_dir)
    from charter.domain.checkpoints import parse_checkpoint_schedule

    schedule = parse_checkpoint_schedule(settings.extra)  # checked even without a key
    if settings.checkpoint_key is not None:  # a missing or bad key stops the start
        from charter.signing.keys import load_key  # cryptography only with a key

        service.checkpointer = attach_checkpointer(database, load_key(settings.checkpoint_key),
                                                   schedule)
    return service


def blob_store(settings: Settings) -> BlobStore:
    """The configured blob store: the local blob folder (default) or S3 (docs/artifacts.md)."""
    config = settings.artifacts
    if config.backend == "local":
        from charter.artifacts.local import LocalBlobStore

        return LocalBlobStore(settings.blob_root)
    if config.backend == "s3":
        from charter.artifacts.s3 import S3BlobStore  # boto3 only when configured

        return S3BlobStore(config.bucket, config.prefix, endpoint_url=config.endpoint_url,
                           region=config.region, addressing_style=config.addressing_style)
    raise InvalidInput(codes.CONFIG_INVALID, f"[artifacts] backend {config.backend!r} is unknown",
                       "use 'local' (the default) or 's3'")

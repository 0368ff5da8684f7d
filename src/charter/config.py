"""One Settings object, built once at the entry point.

Precedence: explicit arguments (CLI flags), then ``CHARTER_*`` environment
variables, then the TOML file (``CHARTER_CONFIG`` or ``$CHARTER_HOME/charter.toml``),
then defaults. See docs/configuration.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput


def default_home(env: Mapping[str, str]) -> Path:
    data = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "charter"


@dataclass(frozen=True)
class ArtifactSettings:
    """Where blobs live: ``local`` (the blob folder) or ``s3`` (docs/artifacts.md).

    S3 credentials are never read from here: boto3 finds them (AWS_ACCESS_KEY_ID /
    AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance role, …).
    """

    backend: str = "local"
    bucket: str = ""
    prefix: str = ""
    endpoint_url: str = ""          # MinIO or another S3-compatible server; empty: AWS
    region: str = ""
    addressing_style: str = ""      # path | virtual; empty: path with endpoint_url, else auto


ARTIFACT_ENV = {"backend": "CHARTER_ARTIFACTS_BACKEND", "bucket": "CHARTER_S3_BUCKET",
                "prefix": "CHARTER_S3_PREFIX", "endpoint_url": "CHARTER_S3_ENDPOINT_URL",
                "region": "CHARTER_S3_REGION", "addressing_style": "CHARTER_S3_ADDRESSING_STYLE"}


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    blob_root: Path
    naming_mode: str = "enforce"
    naming_allow: tuple[str, ...] = ()
    extra_transitions: tuple[tuple[str, str], ...] = ()
    file_roots: tuple[str, ...] = ()
    config_file: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # sections later features read
    artifacts: ArtifactSettings = field(default_factory=ArtifactSettings)
    cache_dir: Path | None = None   # the pull cache; None: $CHARTER_HOME/cache
    auth_enabled: bool = False      # tokens required (docs/access.md)
    auth_default_role: str = "reader"  # every signed-in user's role on every model, or "none"
    # The Ed25519 key that signs audit checkpoints, outside the database; None: no checkpoints.
    checkpoint_key: Path | None = None
    certificate_roots: tuple[Path, ...] = ()  # CA bundles trusted for certificate-signed models
    answer_cache_mb: int = 16  # each server worker's MLflow answer cache; 0: none
    kept_models_mb: int = 8  # each server worker's searched models' JSON (api/mlflow/kept.py)
    # PostgreSQL: connections each server process keeps, and how long a request waits for
    # one (then 503 database.unavailable); docs/configuration.md.
    database_pool_size: int = 8
    database_pool_timeout: float = 10.0

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None,
             env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        given = {k: v for k, v in (overrides or {}).items() if v is not None}
        home = Path(given.get("home") or env.get("CHARTER_HOME") or default_home(env))
        config_file = _config_file(given, env, home)
        file = _read_toml(config_file) if config_file else {}

        def pick(key: str, env_key: str, file_value: Any, default: Any) -> Any:
            if key in given:
                return given[key]
            if env_key in env:
                return env[env_key]
            return default if file_value is None else file_value

        naming = file.get("naming", {})
        return cls(
            home=home,
            database_url=pick("database_url", "CHARTER_DATABASE_URL",
                              file.get("database", {}).get("url"),
                              f"sqlite:///{home / 'charter.db'}"),
            blob_root=Path(pick("blob_root", "CHARTER_BLOB_ROOT",
                                file.get("artifacts", {}).get("root"), home / "blobs")),
            naming_mode=pick("naming_mode", "CHARTER_NAMING_MODE", naming.get("mode"),
                             "enforce"),
            naming_allow=tuple(naming.get("allow", ())),
            extra_transitions=tuple(tuple(e) for e in
                                    file.get("lifecycle", {}).get("extra_transitions", ())),
            file_roots=tuple(file.get("sources", {}).get("file_roots", ())),
            config_file=config_file,
            extra=file,
            artifacts=_artifact_settings(pick, file.get("artifacts", {})),
            cache_dir=Path(pick("cache_dir", "CHARTER_CACHE_DIR",
                                file.get("artifacts", {}).get("cache_dir"), home / "cache")),
            auth_enabled=_flag(pick("auth_enabled", "CHARTER_AUTH",
                                    file.get("auth", {}).get("enabled"), False), "CHARTER_AUTH"),
            auth_default_role=str(pick("auth_default_role", "CHARTER_AUTH_DEFAULT_ROLE",
                                       file.get("auth", {}).get("default_role"), "reader")),
            checkpoint_key=_optional_path(pick("checkpoint_key", "CHARTER_CHECKPOINT_KEY",
                                               _section(file, "audit").get("checkpoint_key"),
                                               None)),
            certificate_roots=_paths(_section(file, "signing").get("certificate_roots", []),
                                     "[signing] certificate_roots"),
            answer_cache_mb=_megabytes(pick("answer_cache_mb", "CHARTER_ANSWER_CACHE_MB",
                                            _section(file, "server").get("answer_cache_mb"),
                                            16), "answer_cache_mb"),
            kept_models_mb=_megabytes(pick("kept_models_mb", "CHARTER_KEPT_MODELS_MB",
                                           _section(file, "server").get("kept_models_mb"),
                                           8), "kept_models_mb"),
            database_pool_size=int(_number(pick(
                "database_pool_size", "CHARTER_DATABASE_POOL_SIZE",
                _section(file, "database").get("pool_size"), 8),
                "CHARTER_DATABASE_POOL_SIZE", 1, 1000)),
            database_pool_timeout=_number(pick(
                "database_pool_timeout", "CHARTER_DATABASE_POOL_TIMEOUT",
                _section(file, "database").get("pool_timeout"), 10.0),
                "CHARTER_DATABASE_POOL_TIMEOUT", 0.1, 3600),
        )


def _section(file: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    section = file.get(name, {})
    return section if isinstance(section, Mapping) else {}


def _megabytes(value: Any, name: str) -> int:
    """A size in MiB from a flag, the environment (text) or the file: a whole number >= 0."""
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit():
        raise InvalidInput(codes.CONFIG_INVALID, f"{name} must be a whole number of "
                           f"megabytes (0 or more), got {value!r}",
                           f"e.g. CHARTER_{name.upper()}=64, or 0 to turn it off")
    return int(text)


def _optional_path(value: Any) -> Path | None:
    return Path(str(value)).expanduser() if value not in (None, "") else None


def _paths(value: Any, name: str) -> tuple[Path, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidInput(codes.CONFIG_INVALID, f"{name} must be a list of file paths",
                           'e.g. certificate_roots = ["/etc/charter/signing-ca.pem"]')
    return tuple(Path(v).expanduser() for v in value)


def _number(value: Any, name: str, low: float, high: float) -> float:
    """A number from the environment or the file, within [low, high]."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not low <= number <= high:
        raise InvalidInput(codes.CONFIG_INVALID, f"{name}={str(value)[:40]!r} is not a number "
                           f"from {low:g} to {high:g}", f"set {name} to a number in that range")
    return number


def _flag(value: Any, name: str) -> bool:
    """A switch from the environment or the file: on/off, true/false, yes/no, 1/0."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "on", "true", "yes"):
        return True
    if text in ("", "0", "off", "false", "no"):
        return False
    raise InvalidInput(codes.CONFIG_INVALID, f"{name}={str(value)[:40]!r} is not on or off",
                       f"set {name} to on or off (true/false, yes/no, 1/0 also work)")


def _artifact_settings(pick: Any, section: Mapping[str, Any]) -> ArtifactSettings:
    values = {key: str(pick(key, env_key, section.get(key), ""))
              for key, env_key in ARTIFACT_ENV.items()}
    values["backend"] = values["backend"].lower() or "local"
    return ArtifactSettings(**values)


def _config_file(given: Mapping[str, Any], env: Mapping[str, str], home: Path) -> Path | None:
    explicit = given.get("config_file") or env.get("CHARTER_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise InvalidInput(codes.CONFIG_NOT_FOUND, f"Config file '{path}' does not exist",
                               "fix CHARTER_CONFIG or --config, or remove it")
        return path
    candidate = home / "charter.toml"
    return candidate if candidate.is_file() else None


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib  # only with a file to read: `charter ls` starts without one

    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(codes.CONFIG_INVALID, f"'{path}' is not valid TOML: {exc}",
                           "fix the file; see docs/configuration.md") from exc

"""The settings read from the environment: where the store and the publications are, the mirror, the retry budget.

Read once at the edge (the CLI commands, the flows' entry points) with `load_settings()` and passed down as plain
values; the modules below fall back to `load_settings()` only when called without them (library use, tests).
The Prefect variables `flows/cli.py` sets at import time are not here: they must be set before Prefect is imported.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, PositiveFloat, PositiveInt, ValidationError, field_validator
from pydantic_core import ErrorDetails

ENV_PREFIX = "ABS_"
RETRY_BUDGET = 300.0  # seconds a file may spend retrying, unless ABS_RETRY_BUDGET says otherwise
CONNECT_TIMEOUT = 10.0  # seconds to open a connection to a host (ABS_CONNECT_TIMEOUT)
READ_TIMEOUT = 120.0  # seconds one socket read may wait, not the whole body (ABS_READ_TIMEOUT)
PREFLIGHT_TIMEOUT = 3.0  # seconds to reach each host before a refresh starts (ABS_PREFLIGHT_TIMEOUT)
STAGING_MEMORY_MB = 1024  # MiB the sources staged at once may take, by estimate (ABS_STAGING_MEMORY_MB)


class Settings(BaseModel):
    """ABS_DATA_DIR, ABS_PUBLISH_DIR, ABS_MIRROR, ABS_RETRY_BUDGET, the network timeouts (ABS_CONNECT_TIMEOUT,
    ABS_READ_TIMEOUT, ABS_PREFLIGHT_TIMEOUT) and ABS_STAGING_MEMORY_MB, with the defaults README.md documents. Download size limits are data
    of each file, in `sources/catalogue.toml` (`[limits]`)."""

    model_config = ConfigDict(frozen=True)

    data_dir: Path = Path("data")  # the store: raw downloads, staged tables, manifest
    publish_dir: Path = Path("publication")  # the publications
    mirror: str | None = None  # fetch https://HOST/PATH as MIRROR/HOST/PATH; unset or empty: the upstream itself
    retry_budget: float = RETRY_BUDGET  # seconds one file may spend retrying
    connect_timeout: PositiveFloat = CONNECT_TIMEOUT
    read_timeout: PositiveFloat = READ_TIMEOUT
    preflight_timeout: PositiveFloat = PREFLIGHT_TIMEOUT
    staging_memory_mb: PositiveInt = STAGING_MEMORY_MB  # sources.memory: parallel staging within this bound

    @field_validator("retry_budget", mode="before")
    @classmethod
    def _seconds(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if not text:  # set but empty: the default, as if unset
            return RETRY_BUDGET
        try:
            budget = float(text)
        except ValueError:
            raise ValueError(f"{ENV_PREFIX}RETRY_BUDGET must be a number of seconds, not {text!r}") from None
        if budget < 0:
            raise ValueError(f"{ENV_PREFIX}RETRY_BUDGET must be a number of seconds >= 0, not {text!r}")
        return budget


def load_settings() -> Settings:
    """The settings of the current environment; a bad value is one ValueError naming its variable."""
    try:
        return Settings.model_validate(environment_values())
    except ValidationError as exc:
        raise ValueError("; ".join(_message(error) for error in exc.errors())) from None


def environment_values() -> dict[str, str]:
    """The values of the ABS_* variables of the settings, their names in any case. Read here rather than by
    pydantic-settings, whose import took about 80 ms of every command (asyncio, argparse, dotenv...)."""
    variables = {name.lower(): value for name, value in os.environ.items()}
    names = {field: f"{ENV_PREFIX}{field}".lower() for field in Settings.model_fields}
    return {field: variables[name] for field, name in names.items() if name in variables}


def _message(error: ErrorDetails) -> str:
    """Our own validators' message as is, pydantic's prefixed with the variable it is about."""
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, ValueError):
        return str(cause)
    field = str(error["loc"][0]) if error.get("loc") else "?"
    return f"{ENV_PREFIX}{field.upper()}: {error['msg']}"

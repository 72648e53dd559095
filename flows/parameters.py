"""Flow parameters as pydantic models: Prefect validates them before a run starts (and a deployment's server
refuses a bad value when the run is created), the CLI validates them before starting anything."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

SIREN_PATTERN = r"^\d{9}$"
COMMUNE_PATTERN = r"^(\d{5}|2[AB]\d{3})$"

# When a flow reads the store: "missing" refreshes first only if no source was ever staged there, "always"
# refreshes first (conditional GETs: cheap when nothing changed), "never" uses the store as it is.
RefreshPolicy = Literal["missing", "always", "never"]


def luhn_ok(digits: str) -> bool:
    """SIREN numbers carry a Luhn check digit: a mistyped digit is caught before anything runs."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def check_siren(value: object) -> object:
    if isinstance(value, str):
        value = value.strip()
        if not re.match(SIREN_PATTERN, value):
            raise ValueError(f"an EPCI is named by its SIREN, 9 digits (200067346), not {value!r}")
        if not luhn_ok(value):
            raise ValueError(f"{value} is not a valid SIREN: its check digit is wrong (a mistyped digit?)")
    return value


def check_commune(value: object) -> object:
    if isinstance(value, str):
        value = value.strip().upper()
        if not re.match(COMMUNE_PATTERN, value):
            raise ValueError(f"a commune code has 5 characters (44043, 2A004), not {value!r}")
    return value


DEPARTEMENT_PATTERN = r"^(\d{2}|2[AB]|97\d)$"


def check_departement(value: object) -> object:
    if isinstance(value, str):
        value = value.strip().upper()
        if not re.match(DEPARTEMENT_PATTERN, value):
            raise ValueError(f"a département code is 01 to 95, 2A, 2B or 971 to 976, not {value!r}")
    return value


# The pattern goes into the JSON schema (a deployment's server checks it when a run is created); the
# validator (run first) gives the clear message and checks the SIREN's check digit.
Siren = Annotated[str, Field(pattern=SIREN_PATTERN, description="SIREN of an EPCI"), BeforeValidator(check_siren)]
CommuneCode = Annotated[str, Field(pattern=COMMUNE_PATTERN, description="INSEE code of a commune"),
                        BeforeValidator(check_commune)]
DepartementCode = Annotated[str, Field(pattern=DEPARTEMENT_PATTERN, description="code of a département"),
                            BeforeValidator(check_departement)]


class Territory(BaseModel):
    """The territory of one diagnostic: an EPCI, a commune, or a named list of communes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epci: Siren | None = Field(None, description="SIREN of the EPCI (CTG diagnostic)")
    commune: CommuneCode | None = Field(None, description="Code of one commune (the ABS of its CCAS)")
    communes: list[CommuneCode] | None = Field(None, description="Communes of a custom territory (with `name`)")
    name: str | None = Field(None, description="Name of the custom territory")

    @field_validator("communes", mode="before")
    @classmethod
    def _split_and_check(cls, value: object) -> object:
        if isinstance(value, str):  # "44043,44064" from a command line or the Prefect UI
            value = [c for c in value.split(",") if c.strip()]
        if isinstance(value, list) and not value:
            raise ValueError("a custom territory needs at least one commune code")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Territory:
        given = [k for k in ("epci", "commune", "communes") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of epci, commune or communes "
                             f"({'none' if not given else ', '.join(given)} given)")
        if self.communes is not None and not (self.name or "").strip():
            raise ValueError("a custom territory (communes) needs a name")
        return self

    def selection(self):
        """The `transforms.pipeline.Selection` of this territory."""
        from transforms.pipeline import Selection
        from transforms.territories import CustomTerritory

        if self.epci:
            return Selection(epci=self.epci)
        if self.commune:
            return Selection(commune=self.commune)
        return Selection(territory=CustomTerritory(self.name.strip(), tuple(self.communes)))

    @property
    def label(self) -> str:
        if self.epci:
            return f"EPCI {self.epci}"
        if self.commune:
            return f"commune {self.commune}"
        return f"{self.name} ({len(self.communes)} communes)"


class TaskRunnerSpec(BaseModel):
    """Where the national batch's tasks run: threads of the flow's process, or a Dask cluster."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["threads", "dask"] = "threads"
    max_workers: int = Field(4, ge=1, le=256, description="threads: tasks at once")
    address: str | None = Field(None, description="dask: scheduler of an existing cluster, tcp://host:8786")
    n_workers: int = Field(2, ge=1, le=512, description="dask without address: workers of a local cluster")
    threads_per_worker: int = Field(1, ge=1, le=64)
    processes: bool = Field(True, description="dask local cluster: worker processes (False: threads)")

    @model_validator(mode="after")
    def _address_is_for_dask(self) -> TaskRunnerSpec:
        if self.address and self.kind != "dask":
            raise ValueError("address is the scheduler of a Dask cluster: use it with kind='dask'")
        return self

    def build(self):
        """The Prefect task runner this spec describes."""
        if self.kind == "threads":
            from prefect.task_runners import ThreadPoolTaskRunner

            return ThreadPoolTaskRunner(max_workers=self.max_workers)
        from prefect_dask import DaskTaskRunner

        if self.address:
            return DaskTaskRunner(address=self.address)
        cluster = {"n_workers": self.n_workers, "processes": self.processes,
                   "threads_per_worker": self.threads_per_worker, "dashboard_address": None}
        if self.processes:
            # Worker processes report their task runs to the API of this run, even a temporary (ephemeral)
            # server whose address is in no environment variable.
            cluster["env"] = {"PREFECT_API_URL": _current_api_url()}
        return DaskTaskRunner(cluster_kwargs=cluster)

    @property
    def label(self) -> str:
        if self.kind == "threads":
            return f"{self.max_workers} threads"
        if self.address:
            return f"Dask cluster at {self.address}"
        mode = "processes" if self.processes else "threads"
        return f"local Dask cluster of {self.n_workers} workers ({mode})"


def _current_api_url() -> str:
    from prefect.context import FlowRunContext
    from prefect.settings import PREFECT_API_URL

    context = FlowRunContext.get()
    if context is not None and context.client is not None:
        return str(context.client.api_url).rstrip("/")
    return PREFECT_API_URL.value()

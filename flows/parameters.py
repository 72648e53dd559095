"""Flow parameters as pydantic models: Prefect validates them before a run starts (and a deployment's server
refuses a bad value when the run is created), the CLI validates them before starting anything."""

from __future__ import annotations

from typing import Literal

from prefect.context import FlowRunContext
from prefect.settings import PREFECT_API_URL
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import BaseModel, ConfigDict, Field, model_validator

# The territory of a diagnostic and the codes of the national run: one model, validated here, at the edge.
from transforms.territories import CommuneCode, DepartementCode, Siren, Territory

__all__ = ["CommuneCode", "DepartementCode", "RefreshPolicy", "Siren", "TaskRunnerSpec", "Territory"]

# When a flow reads the store: "missing" refreshes first only if no source was ever staged there, "always"
# refreshes first (conditional GETs: cheap when nothing changed), "never" uses the store as it is.
RefreshPolicy = Literal["missing", "always", "never"]


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
        if self.kind == "dask":
            try:
                import prefect_dask  # noqa: F401  the optional `dask` extra
            except ImportError:
                raise ValueError(
                    "the Dask runner needs the optional `dask` extra: pip install 'abs-diag[dask]'"
                ) from None
        return self

    def build(self):
        """The Prefect task runner this spec describes."""
        if self.kind == "threads":
            return ThreadPoolTaskRunner(max_workers=self.max_workers)
        from prefect_dask import DaskTaskRunner  # an optional dependency: imported when a Dask runner is asked for

        if self.address:
            return DaskTaskRunner(address=self.address)
        cluster = {
            "n_workers": self.n_workers,
            "processes": self.processes,
            "threads_per_worker": self.threads_per_worker,
            "dashboard_address": None,
        }
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
    context = FlowRunContext.get()
    if context is not None and context.client is not None:
        return str(context.client.api_url).rstrip("/")
    return PREFECT_API_URL.value()

"""Errors a data officer reads: each names the source, the file, and what is wrong with which rows."""

from __future__ import annotations

from dataclasses import dataclass, field


class SourceError(Exception):
    """Base class: something about an upstream file prevents staging it."""

    raw_path: str | None = None  # the raw file kept for inspection, when there is one
    downloads: (
        tuple[str, ...] | list[str]
    ) = ()  # what the refresh fetched before the failure (set by sources.refresh for its summary)


class DownloadError(SourceError):
    def __init__(self, url: str, reason: str, body: str = ""):
        self.url, self.reason, self.body = url, reason, body
        message = f"download of {url} failed: {reason}"
        if body:
            message += f"\n  start of the response: {body[:200]!r}"
        super().__init__(message)

    def __reduce__(self):  # picklable: Prefect stores a failed run's exception
        return (self.__class__, (self.url, self.reason, self.body))


@dataclass
class Failure:
    """One broken rule: which column, which rule, how many rows, and a few of them."""

    column: str
    rule: str
    count: int
    samples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"column": self.column, "rule": self.rule, "count": self.count, "samples": self.samples}


class SourceValidationError(SourceError):
    """The file was read but breaks the source's rules; nothing is staged from it."""

    def __init__(self, source: str, file: str, failures: list[Failure], raw_path: str | None = None):
        self.source, self.file, self.failures, self.raw_path = source, file, failures, raw_path
        lines = [f"{source}: {file} fails validation ({len(failures)} rule(s) broken); nothing was staged."]
        for f in failures:
            lines.append(f"  - column {f.column!r}: {f.rule} ({f.count} row(s)), e.g. {'; '.join(f.samples)}")
        if raw_path:
            lines.append(f"  the downloaded file is kept for inspection: {raw_path}")
        super().__init__("\n".join(lines))

    def __reduce__(self):
        return (self.__class__, (self.source, self.file, self.failures, self.raw_path))


class ParseError(SourceError):
    """The file cannot be read at all (missing member, no header row, undecodable text)."""

    def __init__(self, source: str, file: str, reason: str):
        self.source, self.file, self.reason = source, file, reason
        super().__init__(f"{source}: cannot read {file}: {reason}")

    def __reduce__(self):
        return (self.__class__, (self.source, self.file, self.reason))


class StoreWriteError(SourceError):
    """A file of the store could not be written (disk full, read-only folder, file too large...): names the step
    and the path; the source fails, its previous state is kept, the other sources go on."""

    def __init__(self, step: str, path: str, reason: str):
        self.step, self.path, self.reason = step, str(path), reason
        super().__init__(f"{step}: cannot write {path}: {reason}; the previous staged table and raw file are kept")

    @classmethod
    def of(cls, step: str, path, exc: OSError) -> StoreWriteError:
        """From an OSError: the path it names if any (else `path`, the file being written), errno and message."""
        where = exc.filename if exc.filename is not None else path
        reason = f"[Errno {exc.errno}] {exc.strerror}" if exc.errno is not None else str(exc)
        return cls(step, str(where), reason)

    def __reduce__(self):
        return (self.__class__, (self.step, self.path, self.reason))

"""The store's manifest (`data/manifest.json`) as typed records.

    Manifest            {"entries": {"<source>/<vintage>": EntryRecord}}
    EntryRecord         {"source", "vintage", "files": {role: FileRecord}, "staged": StagedRecord, "last_failure"}
    FileRecord          one download: URL, size, sha256, validators, when
    StagedRecord        the staged table: its file, rows, secret and null cells, geography changes, what it was
                        made from (`inputs`, `basis`), the catalogue's title and publisher
    LastFailure         the error of the last refresh that could not stage the entry

`from_dict` / `to_dict` keep the JSON on disk as it was: a key the file did not have is not written back (a store
of an earlier release is rewritten as it was), keys this release does not know are kept as they are (`extra`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar


class _Record:
    """from_dict / to_dict shared by the manifest's records."""

    NESTED: ClassVar[dict[str, Any]] = {}  # key -> function reading its JSON value into a typed value
    WRITTEN_WHEN_SET: ClassVar[frozenset[str]] = frozenset()  # keys written only when not None

    extra: dict
    _absent: frozenset
    __dataclass_fields__: ClassVar[dict[str, Any]]  # every record is a dataclass

    if TYPE_CHECKING:  # each record's dataclass writes its own __init__

        def __init__(self, **values: Any) -> None: ...

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return _keys(cls)

    @classmethod
    def from_dict(cls, data: dict):
        """The record of `data`, sharing nothing with it (each value copied once: nested records copy their own)."""
        keys = _keys(cls)
        known = {k: cls.NESTED.get(k, _copied)(v) for k, v in data.items() if k in keys}
        record = cls(**known, extra={k: _copied(v) for k, v in data.items() if k not in keys})
        record._absent = frozenset(k for k in keys if k not in data)
        return record

    def to_dict(self) -> dict:
        out = {}
        for key in self.keys():
            value = getattr(self, key)
            if _unset(value) and key in self._absent or value is None and key in self.WRITTEN_WHEN_SET:
                continue
            out[key] = _plain(value)
        return out | _copied(self.extra)


_KEYS: dict[type, tuple[str, ...]] = {}


def _keys(cls: type) -> tuple[str, ...]:
    """The JSON keys of a record class, its fields but `extra` and `_absent` (looked up once per class: a
    manifest has thousands of records)."""
    if cls not in _KEYS:
        _KEYS[cls] = tuple(f.name for f in fields(cls) if f.name not in ("extra", "_absent"))
    return _KEYS[cls]


def _unset(value) -> bool:
    return value is None or value == {} or value == []


def _plain(value):
    """A typed value back to its JSON form."""
    if isinstance(value, _Record):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return _copied(value)


_IMMUTABLE = (str, int, float, bool, type(None))


def _copied(value):
    """A copy of `value` sharing nothing with it: JSON's dicts and lists copied here, `copy.deepcopy` for any other
    mutable value. A pinned store's manifest is copied whole at each `Store.manifest()`, several times a report:
    France's, 4.1 ms a copy through deepcopy alone, 2.6 ms so."""
    kind = type(value)
    if kind is dict:
        return {k: _copied(v) for k, v in value.items()}
    if kind is list:
        return [_copied(v) for v in value]
    return value if kind in _IMMUTABLE else copy.deepcopy(value)


@dataclass
class FileRecord(_Record):
    """One downloaded file (`sources.download.Download`)."""

    url: str | None = None
    fetched_url: str | None = None  # the URL asked for (through the mirror, if any)
    final_url: str | None = None  # the URL that answered, after redirects
    path: str | None = None
    status: str | None = None  # "downloaded" or "unchanged"
    size: int | None = None
    sha256: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    fetched_at: str | None = None
    mtime_ns: int | None = None  # the file's modification time when its sha256 was last known to hold
    extra: dict = field(default_factory=dict, repr=False)
    _absent: frozenset = field(default=frozenset(), repr=False, compare=False)


@dataclass
class StagedRecord(_Record):
    """A staged table and what it was made from."""

    WRITTEN_WHEN_SET: ClassVar[frozenset[str]] = frozenset({"file", "accepted_drop"})

    rows: int | None = None
    secret_cells: int | None = None
    null_cells: dict[str, int] = field(default_factory=dict)  # status -> cells
    notes: list[str] = field(default_factory=list)  # the parser's notes (technical, in English)
    geo_changes: list[dict] = field(default_factory=list)  # `sources.geography.GeoChange.as_dict`
    inputs: dict[str, str] = field(default_factory=dict)  # file role -> sha256 of the bytes staged
    basis: dict[str, str | None] = field(default_factory=dict)  # geography and code it was staged with
    staged_at: str | None = None
    file: str | None = None  # the table, relative to the store; set when the run is switched in
    path: str | None = None  # where the table was written (absolute)
    cog: int | None = None  # the table's geography: always the target COG
    source_cog: int | None = None  # the publisher file's geography; None when it depends on the row's year
    cog_offset: int | None = None  # ... which is then the year plus this offset (CAF: N+1)
    title: str | None = None
    publisher: str | None = None
    accepted_drop: dict | None = None  # a drop of coverage or rows accepted by --accept-drop (sources.coverage)
    extra: dict = field(default_factory=dict, repr=False)
    _absent: frozenset = field(default=frozenset(), repr=False, compare=False)

    @property
    def file_geography(self) -> int | None:
        """The publisher file's COG (manifests before `source_cog` kept it in `cog`)."""
        return self.cog if "source_cog" in self._absent else self.source_cog


@dataclass
class LastFailure(_Record):
    at: str | None = None
    error: str | None = None
    extra: dict = field(default_factory=dict, repr=False)
    _absent: frozenset = field(default=frozenset(), repr=False, compare=False)


def _files(value: dict | None) -> dict[str, FileRecord]:
    return {role: FileRecord.from_dict(record) for role, record in (value or {}).items()}


def _staged(value: dict | None) -> StagedRecord | None:
    return StagedRecord.from_dict(value) if value else None


def _failure(value: dict | None) -> LastFailure | None:
    return LastFailure.from_dict(value) if value else None


@dataclass
class EntryRecord(_Record):
    """What the store knows of one catalogue entry: its files, its staged table, its last failure."""

    NESTED: ClassVar[dict[str, Any]] = {"files": _files, "staged": _staged, "last_failure": _failure}
    WRITTEN_WHEN_SET: ClassVar[frozenset[str]] = frozenset({"last_failure"})

    source: str | None = None
    vintage: str | None = None
    files: dict[str, FileRecord] = field(default_factory=dict)  # role ("main", "hist"...) -> its download
    staged: StagedRecord | None = None  # None: never staged
    last_failure: LastFailure | None = None
    extra: dict = field(default_factory=dict, repr=False)
    _absent: frozenset = field(default=frozenset(), repr=False, compare=False)

    @classmethod
    def empty(cls) -> EntryRecord:
        """The record of an entry the manifest does not have yet (written back with the keys set on it)."""
        record = cls()
        record._absent = frozenset(cls.keys())
        return record


def _entries(value: dict | None) -> dict[str, EntryRecord]:
    return {key: EntryRecord.from_dict(record) for key, record in (value or {}).items()}


@dataclass
class Manifest(_Record):
    """Every entry the store knows, by `source/vintage`."""

    NESTED: ClassVar[dict[str, Any]] = {"entries": _entries}

    entries: dict[str, EntryRecord] = field(default_factory=dict)
    extra: dict = field(default_factory=dict, repr=False)
    _absent: frozenset = field(default=frozenset(), repr=False, compare=False)

    def get(self, key: str) -> EntryRecord:
        """The record of `key` (an empty one when the store does not know it)."""
        return self.entries.get(key) or EntryRecord.empty()

    def staged(self) -> dict[str, EntryRecord]:
        """The entries with a staged table."""
        return {key: record for key, record in self.entries.items() if record.staged is not None}

    @staticmethod
    def split(key: str) -> tuple[str, str]:
        """`source/vintage` -> (source, vintage)."""
        source, vintage = key.split("/", 1)
        return source, vintage

"""The CTG's yearly evaluation: which indicators the convention follows, and how each moved since the baseline.

The user lists them in a small file beside the command (`--evaluation FILE`), CSV or YAML:

    indicateur;cible;sens;communes                    # CSV (`;` or `,`), header required, one row per indicator
    taux_couverture_global;65;hausse;
    foyers_rsa;;baisse;49099

    - indicateur: taux_couverture_global               # YAML: a list of the same fields
      cible: 65
      sens: hausse
    - indicateur: foyers_rsa
      communes: [49099]

`indicateur` is an indicator id of `transforms/indicators.toml` with a yearly or census series; `cible` an
optional target value in the indicator's unit (decimal comma or point); `sens` the expected direction, `hausse` or
`baisse` (default: from the indicator's direction, none for a neutral one); `communes` optional commune codes (the
row is then shown for each of these communes instead of the territory). English field names (indicator, target,
direction, communes) are accepted too. Without a file, `DEFAULT_ITEMS` is used.
"""

from __future__ import annotations

import csv
import difflib
import io
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sources.codes import check_commune
from transforms.registry import indicators
from transforms.series import has_series

DIRECTIONS = {
    "hausse": "hausse",
    "baisse": "baisse",
    "increase": "hausse",
    "decrease": "baisse",
    "up": "hausse",
    "down": "baisse",
}
FIELDS = {
    "indicateur": "indicator",
    "indicator": "indicator",
    "cible": "target",
    "target": "target",
    "sens": "direction",
    "direction": "direction",
    "communes": "communes",
    "commune": "communes",
}
# Without a user file: per theme, what a CTG usually follows (coverage, places, births, families, RSA, poverty...)
DEFAULT_IDS = (
    "naissances",
    "taux_couverture_global",
    "places_accueil_jeune_enfant",
    "foyers_paje",
    "foyers_af",
    "foyers_asf",
    "foyers_rsa",
    "foyers_prime_activite",
    "taux_pauvrete",
    "foyers_aide_logement",
    "foyers_allocataires",
)


class EvaluationItem(BaseModel):
    """One indicator the convention follows (a flow parameter: plain JSON)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    indicator: str = Field(description="indicator id of transforms/indicators.toml")
    target: float | None = Field(None, description="target value, in the indicator's unit")
    direction: str | None = Field(None, description="expected direction: hausse or baisse")
    communes: tuple[str, ...] = Field((), description="commune codes the row is shown for (default: the territory)")

    # the same rules hold for a deployment's parameters, which never pass through the file reader
    @field_validator("indicator")
    @classmethod
    def _known(cls, ident: str) -> str:
        known = {i.id: i for i in indicators()}
        if ident not in known:
            raise ValueError(f"unknown indicator {ident!r}{_close_ids(ident)}")
        if not has_series(known[ident]):
            raise ValueError(
                f"{ident} is an evolution between two censuses, not a value followed year by year{_close_ids(ident)}"
            )
        return ident

    @field_validator("direction")
    @classmethod
    def _direction(cls, direction: str | None) -> str | None:
        if direction is None:
            return None
        if direction.strip().lower() not in DIRECTIONS:
            raise ValueError(f"direction {direction!r} is hausse or baisse")
        return DIRECTIONS[direction.strip().lower()]

    @field_validator("communes")
    @classmethod
    def _communes(cls, communes: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(str(check_commune(c)) for c in communes)


class EvaluationFileError(ValueError):
    """A problem of the user's evaluation file, with the file, the line and the rule."""


DEFAULT_ITEMS = tuple(EvaluationItem(indicator=i) for i in DEFAULT_IDS)


def _close_ids(name: str) -> str:
    ids = [i.id for i in indicators() if has_series(i)]
    close = difflib.get_close_matches(name, ids, n=4, cutoff=0.5) or [i for i in ids if name[:4] in i][:4]
    return f"; close ids: {', '.join(close)}" if close else f"; known ids: {', '.join(ids)}"


def _number(text: object, where: str) -> float | None:
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    cleaned = str(text).strip().replace("\u202f", "").replace(" ", "").replace(",", ".").removesuffix("%")
    try:
        return float(cleaned)
    except ValueError:
        raise EvaluationFileError(f"{where}: target {text!r} is not a number (write 65 or 65,5)") from None


def _item(raw: dict, where: str) -> EvaluationItem:
    fields = {}
    for key, value in raw.items():
        name = FIELDS.get(str(key).strip().lower()) if key is not None else None
        if name is None:
            raise EvaluationFileError(f"{where}: unknown column {key!r} (columns: indicateur, cible, sens, communes)")
        fields[name] = value
    ident = str(fields.get("indicator") or "").strip()
    if not ident:
        raise EvaluationFileError(f"{where}: the indicator id (column indicateur) is empty")
    known = {i.id: i for i in indicators()}
    if ident not in known:
        raise EvaluationFileError(f"{where}: unknown indicator {ident!r}{_close_ids(ident)}")
    if not has_series(known[ident]):
        raise EvaluationFileError(
            f"{where}: {ident} is an evolution between two censuses, not a value followed "
            f"year by year{_close_ids(ident)}"
        )
    direction = str(fields.get("direction") or "").strip().lower() or None
    if direction is not None and direction not in DIRECTIONS:
        raise EvaluationFileError(f"{where}: direction {fields['direction']!r} is hausse or baisse")
    communes = fields.get("communes") or ()
    if isinstance(communes, (str, int)):
        communes = str(communes).replace(",", " ").split()
    try:
        communes = tuple(check_commune(str(c).strip()) for c in communes)
    except ValueError as exc:
        raise EvaluationFileError(f"{where}: {exc}") from None
    return EvaluationItem(
        indicator=ident,
        target=_number(fields.get("target"), where),
        direction=DIRECTIONS.get(direction) if direction else None,
        communes=communes,
    )


def _csv_rows(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        return []
    delimiter = ";" if lines[0].count(";") >= lines[0].count(",") else ","
    return list(csv.DictReader(io.StringIO("\n".join(lines)), delimiter=delimiter))


def read_evaluation(path: Path) -> tuple[EvaluationItem, ...]:
    """The items of a user's evaluation file, every rule checked; EvaluationFileError names the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvaluationFileError(f"{path}: cannot be read as UTF-8 text ({exc})") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            raw = yaml.safe_load(text) or []
        except yaml.YAMLError as exc:
            raise EvaluationFileError(f"{path}: not valid YAML ({exc})") from None
        if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
            raise EvaluationFileError(f"{path}: a YAML evaluation file is a list of entries (- indicateur: ...)")
        rows = [(f"{path}, entry {n}", r) for n, r in enumerate(raw, start=1)]
    elif path.suffix.lower() in (".csv", ".txt"):
        rows = [(f"{path}, line {n}", r) for n, r in enumerate(_csv_rows(text), start=2)]
    else:
        raise EvaluationFileError(f"{path}: an evaluation file is .csv or .yaml, not {path.suffix or 'no suffix'}")
    if not rows:
        raise EvaluationFileError(f"{path}: no indicator listed")
    return tuple(_item(raw, where) for where, raw in rows)

"""Demo home-work flows (RP 2022, COG 2025): `base-flux-mobilite-domicile-lieu-travail-2022.csv` in its zip.

The real layout: `CODGEO;LIBGEO;DCLT;L_DCLT;NBFLUX_C22_ACTOCC15P`, decimal point, Paris and Lyon by arrondissement
on both sides, places of work abroad (`SU112`, `BE540`) and undetermined (`ZZZZZ`). Each place of residence sends
its employed residents (42 % of its population) to: itself (more so for a big commune), the other communes of its
EPCI, a pole outside its EPCI, abroad and nowhere known; the figures are invented.
"""

from __future__ import annotations

from pathlib import Path

from sources.demo.files import entry_path, write_text
from sources.demo.world import ARRONDISSEMENTS, COMMUNES, NO_EPCI, commune

HEADER = "CODGEO;LIBGEO;DCLT;L_DCLT;NBFLUX_C22_ACTOCC15P"
EMPLOYED = 0.42  # employed residents per inhabitant
CITIES = ("75056", "69123")  # coded by arrondissement on both sides
# The pole outside its EPCI each département's residents commute to (a Lyon arrondissement for the Ain).
POLE = {"44": "49099", "49": "44043", "85": "49099", "01": "69383", "75": "69382", "69": "75108", "2A": None}
ABROAD = {"01": ("SU112", "Genève"), "44": ("BE540", "Bruxelles")}
UNDETERMINED = ("ZZZZZ", "Lieu de travail indéterminé")
NAMES = {c.code: c.name for c in COMMUNES} | {a.code: a.name for a in ARRONDISSEMENTS}


def _residences() -> list[tuple[str, float, str, str]]:
    """(code, population, département, EPCI) of every place of residence: communes, and arrondissements instead
    of their city."""
    out = []
    for c in COMMUNES:
        if c.code in CITIES:
            out += [(a.code, c.pop22 * a.share, c.dep, c.epci) for a in ARRONDISSEMENTS if a.parent == c.code]
        else:
            out.append((c.code, float(c.pop22), c.dep, c.epci))
    return out


def _shares(code: str, population: float, dep: str, epci: str) -> dict[str, float]:
    """Share of the residence's employed residents per place of work."""
    stay = 0.18 + 0.35 * min(1.0, population / 60000)
    shares: dict[str, float] = {}
    neighbours = [
        c.code for c in COMMUNES if c.epci == epci and epci != NO_EPCI and c.code != code and c.code not in CITIES
    ]
    if code[:5] in {a.code for a in ARRONDISSEMENTS}:  # the other arrondissements of the same city
        city = next(a.parent for a in ARRONDISSEMENTS if a.code == code)
        neighbours = [a.code for a in ARRONDISSEMENTS if a.parent == city and a.code != code][:3]
    for n in neighbours:
        shares[n] = 0.30 / len(neighbours)
    pole = POLE.get(dep)
    if pole and pole != code:  # few Parisians or Lyonnais work in the other city
        shares[pole] = shares.get(pole, 0.0) + (0.03 if dep in ("75", "69") else 0.30)
    if dep in ABROAD:
        shares[ABROAD[dep][0]] = 0.015
    shares[UNDETERMINED[0]] = 0.01
    shares[code] = max(0.0, 1.0 - sum(shares.values())) if not neighbours and not pole else stay
    total = sum(shares.values())
    return {k: v / total for k, v in shares.items()}


def rows() -> list[tuple[str, str, float]]:
    """(residence, place of work, flow) in the file's order."""
    out = []
    for code, population, dep, epci in _residences():
        employed = population * EMPLOYED
        for work, share in _shares(code, population, dep, epci).items():
            out.append((code, work, round(employed * share, 5)))
    return sorted(out)


def _name(code: str) -> str:
    foreign = {c: n for c, n in ABROAD.values()} | {UNDETERMINED[0]: UNDETERMINED[1]}
    return foreign.get(code) or NAMES.get(code) or commune(code).name


def data_csv() -> str:
    lines = [HEADER] + [f"{h};{_name(h)};{w};{_name(w)};{flow}" for h, w, flow in rows()]
    return "\n".join(lines) + "\n"


def write(root: Path) -> None:
    folder = entry_path(root, "mobility", "2022")
    write_text(folder / "base-flux-mobilite-domicile-lieu-travail-2022.csv", data_csv())

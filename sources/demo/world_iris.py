"""The infra-communal part of the demo world: one commune divided into IRIS, with a priority neighbourhood (QPV).

Cholet (49099) is really divided into IRIS and really has QPVs; the demo divides it into six IRIS and gives it one
QPV. The IRIS and QPV codes follow the real formats (9-character IRIS codes `49099xxxx`, QPV 2024 codes `QNdddnnL`)
but the codes, the names and every figure are invented: the names say plainly what they are. Every other commune
of the demo world is not divided into IRIS (one pseudo-IRIS `<code>0000`, type Z), except the arrondissements of
Paris and Lyon, which get one IRIS each (`<arrondissement>0101`), as the real files carry Paris IRIS under their
arrondissement. Ajaccio has a QPV too, without IRIS in the demo: its report shows the QPV part alone.
"""

from __future__ import annotations

from dataclasses import dataclass

IRISED = "49099"  # Cholet


@dataclass(frozen=True)
class Iris:
    code: str  # 9 characters
    name: str
    typ: str  # H habitat, A activité, D divers, Z commune not divided into IRIS
    share: float  # of the commune's population
    need: float  # -1 (better off than the commune) .. 1 (much higher social needs)
    secret: bool = False  # Filosofi publishes none of its figures (too few households)


CHOLET_IRIS = [
    Iris("490990101", "Cholet Centre (démo)", "H", 0.19, 0.1),
    Iris("490990102", "Cholet Nord (démo)", "H", 0.22, -0.6),
    Iris("490990103", "Cholet Est (démo)", "H", 0.20, -0.3),
    Iris("490990104", "Cholet Sud - quartier prioritaire (démo)", "H", 0.21, 0.9),
    Iris("490990105", "Cholet Ouest (démo)", "H", 0.17, 0.2),
    Iris("490990106", "Cholet Zone d'activités (démo)", "A", 0.01, 0.0, secret=True),
]


@dataclass(frozen=True)
class Qpv:
    code: str
    name: str
    commune: str
    commune_name: str
    dep: str
    reg: str
    epci: str
    lon: float  # a small square around this point stands for its contour
    lat: float


QPVS = [
    Qpv("QN04905M", "Cholet Sud (démo)", "49099", "Cholet", "49", "52", "200071678", -0.872, 47.050),
    Qpv("QN02A02M", "Ajaccio Les Hauts (démo)", "2A004", "Ajaccio", "2A", "94", "242010056", 8.745, 41.935),
]

"""The processing journal of the quality annex, in French for readers.

The source parsers record technical notes in English in the store manifest (for the data officer who reruns a
refresh). The annex shows them in French: each known form of note is matched by a pattern and rewritten, with its
figures, codes and file names kept; references to the project's internal documents (« decisions.md ») and to the
parsers' vocabulary are dropped. A note of an unknown form is not shown in English: the annex counts it and says
the full technical journal stays in the store's manifest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# internal references a reader has no access to: removed before matching
INTERNAL = re.compile(r"\s*\((?:decisions\.md|attested|catalogue code, not attested in documentation)\)|"
                      r",? like s_ben_com_f \(decisions\.md\)")
_NULL_REASONS = {"not_available": "non disponible", "secret": "secret statistique"}

# (pattern, French): the pattern matches the whole note; {name} in the French text is a named group
TRANSLATIONS: tuple[tuple[str, str], ...] = (
    (r"(?P<file>[\w.]+): (?P<n>\d+) column\(s\) not in the catalogue, not staged: (?P<cols>.+)",
     "{file} : {n} colonne(s) non retenue(s) (hors catalogue) : {cols}."),
    (r"(?P<file>[\w.]+): (?P<n>\d+) row\(s\) with an empty (?P<col>\w+) \(allocataires the CAF cannot localise\) "
     r"excluded, not spread; per year: (?P<years>.+)",
     "{file} : {n} ligne(s) sans code commune ({col} vide : allocataires non localisés par la CAF) écartées, "
     "sans répartition ; par année : {years}."),
    (r"(?P<file>[\w.]+): (?P<n>\d+) row\(s\) with placeholder (?P<col>\w+) code\(s\) .*? \(not localised\) "
     r"\((?P<codes>[^)]*)\) excluded, not spread; per year: (?P<years>.+)",
     "{file} : {n} ligne(s) au code fictif {codes} (non localisées) écartées, sans répartition ; par année : "
     "{years}."),
    (r"(?P<file>[\w.]+): (?P<city>\w+) \((?P<name>[^)]+)\) is published by arrondissement only: its COM rows are "
     r"the sum of its (?P<n>\d+) arrondissements \(ARM rows kept too\)\.(?P<rounded> Each arrondissement is "
     r"rounded to 5 by the CAF.*)?",
     "{file} : {name} ({city}) n'est publiée que par arrondissement : la commune est la somme de ses {n} "
     "arrondissements (conservés aussi).{rounded}"),
    (r"(?P<file>[\w.]+): (?P<city>\w+) \((?P<name>[^)]+)\): (?P<n>\d+) arrondissement\(s\) absent from some rows: "
     r"those city values are null \(not_available\), never a partial sum\.",
     "{file} : {name} ({city}) : {n} arrondissement(s) absent(s) de certaines lignes ; la commune y reste vide "
     "(non disponible), jamais une somme partielle."),
    (r"(?P<file>[\w.]+): foyers and personnes are rounded to 5 by the CAF.*",
     "{file} : foyers et personnes sont arrondis à 5 par la CAF (7 → 5, 12 → 10) : la somme des communes peut "
     "différer légèrement du total publié pour le département ou la France."),
    (r"(?P<file>[\w.]+): December N is localised in the geography of 1 January N\+1 \(COG (?P<a>\d+) for "
     r"(?P<b>[\d-]+) … COG (?P<c>\d+) for (?P<d>[\d-]+)\)\.",
     "{file} : les données de décembre N sont dans la géographie du 1er janvier N+1 (COG {a} pour {b} … COG {c} "
     "pour {d})."),
    (r"years (?P<a>\d{4})-(?P<b>\d{4}) \(reference month December\)(?P<where>.*?)\.?",
     "Années {a} à {b} (mois de référence : décembre){where}."),
    (r"years (?P<a>\d{4})-(?P<b>\d{4})", "Années {a} à {b}."),
    (r"coverage rates are places per 100 children under 3 \(not a percentage; never re-aggregated\)"
     r"(?:: (?P<n>\d+) value\(s\) above 100)?",
     "Les taux de couverture sont des places pour 100 enfants de moins de 3 ans (pas des pourcentages, jamais "
     "réagrégés){above}."),
    (r"communal file: communes above 10,000 inhabitants only \((?P<com>\d+) COM codes, (?P<arm>\d+) "
     r"arrondissements\); other communes take their EPCI's figure downstream\.",
     "Fichier communal : communes de plus de 10 000 habitants seulement ({com} communes, {arm} arrondissements) ; "
     "les autres communes prennent le taux de leur EPCI."),
    (r"coverage of Paris/Lyon/Marseille is published by arrondissement only \(ARM rows\): no city rate is "
     r"computed\.",
     "Paris, Lyon et Marseille ne sont publiées que par arrondissement : aucun taux n'est calculé pour la ville."),
    (r"EPCI code\(s\) absent from the (?P<cog>.+?) EPCI list, staged as published: (?P<codes>.+)",
     "Code(s) d'EPCI absent(s) de la liste des EPCI du {cog}, repris tels que publiés : {codes}."),
    (r"national figures are France entière hors Mayotte\.", "Chiffres nationaux : France entière hors Mayotte."),
    (r"(?P<year>\d{4}) is in both (?P<a>[\w.]+) and (?P<b>[\w.]+): the current file wins; (?P<n>\d+) row\(s\) have "
     r"different values",
     "{year} figure dans {a} et dans {b} : le fichier courant l'emporte ; {n} ligne(s) diffèrent."),
    (r"census year (?P<year>\d{4}): (?P<n>\d+) variables staged",
     "Recensement {year} : {n} variables retenues."),
    (r"comparison years read from the header: (?P<years>.+)",
     "Années de comparaison lues dans l'en-tête : {years}."),
    (r"(?P<col>\w+) not in this vintage: indicators that need it will be null \(not_available\)",
     "{col} absente de ce millésime : les indicateurs qui en ont besoin restent vides (non disponible)."),
    (r"(?P<n>\d+) arrondissement municipal row\(s\) \(751xx, 6938x, 132xx\) staged at level ARM, apart from their "
     r"city, which the file already counts as a commune: never added to it",
     "{n} ligne(s) d'arrondissement municipal (751xx, 6938x, 132xx) gardées à part : le fichier compte déjà leur "
     "ville comme commune, elles n'y sont jamais ajoutées."),
    (r"(?P<n>\d+) empty cell\(s\) in (?P<rows>\d+) row\(s\) \((?P<codes>[^)]*)\) staged as null \(not_available\)",
     "{n} cellule(s) vide(s) dans {rows} ligne(s) ({codes}) : valeurs non disponibles."),
    (r"(?P<n>\d+) other column\(s\) of the file not staged \(not in the catalogue\)",
     "{n} autre(s) colonne(s) du fichier non retenue(s) (hors catalogue)."),
    (r"EC_MEASURE (?P<code>\w+)", "Mesure {code} de l'état civil."),
    (r"(?P<n>\d+) row\(s\) of other zonings dropped \((?P<detail>[^)]*)\)",
     "{n} ligne(s) d'autres zonages écartées ({detail})."),
    (r"(?P<n>\d+) row\(s\) of the pseudo-EPCI (?P<code>\w+) \(communes in no EPCI\) dropped",
     "{n} ligne(s) du pseudo-EPCI {code} (communes hors EPCI) écartées."),
    (r"France level: GEO (?P<code>\w+) staged as FR(?:; other France zonings dropped \((?P<others>[^)]*)\))?",
     "Niveau France : code {code} retenu{others}."),
    (r"(?P<n>\d+) row\(s\) of arrondissement unknown \((?P<codes>[^)]*)\) kept at level ARM; they are already "
     r"counted in their city's commune row",
     "{n} ligne(s) d'arrondissement inconnu ({codes}) gardées à part : elles sont déjà comptées dans leur ville."),
    (r"(?P<n>\d+) cell\(s\) flagged by CONF_STATUS/OBS_STATUS staged null 'secret'",
     "{n} cellule(s) confidentielle(s) selon l'Insee : laissées vides (secret statistique)."),
    (r"optional column\(s\) absent, treated as empty: (?P<cols>.+)",
     "Colonne(s) facultative(s) absente(s), traitée(s) comme vides : {cols}."),
    (r"(?P<n>\d+) (?P<kind>ARM|COM|COMD|COMA)", "{n} {kind_fr}."),
    (r"(?P<n>\d+) event rows", "{n} événements communaux."),
    (r"(?P<n>\d+) départements", "{n} départements."),
    (r"(?P<n>\d+) EPCI", "{n} EPCI."),
    (r"(?P<n>\d+) commune\(s\) in no EPCI \((?P<code>\w+)\)", "{n} commune(s) hors EPCI ({code})."),
    (r"(?P<file>[\w.]+): (?P<com>\d+) communes \(COG (?P<cog>\d+)\) and (?P<arm>\d+) arrondissements municipaux "
     r"\(level ARM, never added to their city again\)",
     "{file} : {com} communes (COG {cog}) et {arm} arrondissements municipaux (gardés à part, jamais ajoutés à "
     "leur ville)."),
    (r"(?P<file>[\w.]+): (?P<s>\d+) row\(s\) entirely secret \(s\), (?P<nd>\d+) row\(s\) entirely not available "
     r"\(nd\)",
     "{file} : {s} ligne(s) entièrement secrète(s) (s), {nd} ligne(s) entièrement non disponible(s) (nd)."),
    (r"(?P<file>[\w.]+): France row \(published code '(?P<code>\w+)'\) staged with code FR",
     "{file} : ligne France (code publié « {code} »)."),
    (r"(?P<parent>\w+) carries the households of (?P<children>.+?) \(restored after (?P<year>\d{4}), published nd\): "
     r"its counts are kept for the levels above the commune, its medians and rates are non_recalculable",
     "{parent} porte les ménages de {children} (rétablies après {year}, publiées nd) : ses effectifs comptent "
     "au-dessus de la commune, ses médianes et taux sont non recalculables."),
    (r"accepted by the user \(--accept-drop (?P<source>\w+)\): (?P<detail>.+)",
     "Fichier accepté malgré une couverture réduite (option --accept-drop {source}) : {detail}."),
)
KINDS_FR = {"ARM": "arrondissements municipaux", "COM": "communes", "COMD": "communes déléguées",
            "COMA": "communes associées"}
_COMPILED = tuple((re.compile(pattern), french) for pattern, french in TRANSLATIONS)


@dataclass(frozen=True)
class Journal:
    lines: tuple[str, ...]  # the notes in French
    untranslated: int  # notes of an unknown form, left in the manifest


def _fill(french: str, groups: dict[str, str | None]) -> str:
    values = {k: v or "" for k, v in groups.items()}
    if "rounded" in groups:
        values["rounded"] = " Chaque arrondissement est arrondi à 5 par la CAF : la ville est une somme de valeurs " \
                            "arrondies." if groups["rounded"] else ""
    if "n" in groups and "{above}" in french:
        values["above"] = f" ; {groups['n']} valeur(s) au-dessus de 100" if groups["n"] else ""
    if "others" in groups:
        values["others"] = f" ; autres zonages France écartés ({groups['others']})" if groups["others"] else ""
    if "where" in groups:
        values["where"] = " ; communes de l'année N dans la géographie du 1er janvier N+1" if groups["where"] else ""
    if "kind" in groups:
        values["kind_fr"] = KINDS_FR.get(groups["kind"] or "", groups["kind"] or "")
    return french.format(**values)


def translate(note: str) -> str | None:
    """The note in French, or None when its form is unknown."""
    text = INTERNAL.sub("", note).strip()
    for pattern, french in _COMPILED:
        match = pattern.fullmatch(text)
        if match:
            return _fill(french, match.groupdict())
    return None


def journal(notes: list[str]) -> Journal:
    french = [translate(n) for n in notes]
    return Journal(tuple(f for f in french if f), sum(1 for f in french if f is None))

"""The processing journal of the quality annex, in French for readers.

The source parsers record technical notes in English in the store manifest (for the data officer who reruns a
refresh). The annex shows them in French: each known form of note is matched by a pattern and rewritten, with its
figures, codes and file names kept (counts in French number format); references to the project's internal
documents (« decisions.md ») and to the parsers' vocabulary are dropped. A note of an unknown form is not shown in
English: the annex counts it and says the full technical journal stays in the store's manifest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reports.formats import number

# internal references a reader has no access to: removed before matching
INTERNAL = re.compile(
    r"\s*\((?:decisions\.md|attested|catalogue code, not attested in documentation)\)|"
    r",? like s_ben_com_f \(decisions\.md\)"
)
_NULL_REASONS = {"not_available": "non disponible", "secret": "secret statistique"}

# (pattern, French): the pattern matches the whole note; {name} in the French text is a named group
TRANSLATIONS: tuple[tuple[str, str], ...] = (
    (
        r"(?P<file>[\w./-]+): (?P<n>\d+) column\(s\) not in the catalogue, not staged: (?P<cols>.+)",
        "{file} : {n} colonne(s) non retenue(s) (hors catalogue) : {cols}.",
    ),
    (
        r"(?P<file>[\w./-]+): (?P<n>\d+) row\(s\) with an empty (?P<col>\w+) \(allocataires the CAF cannot localise\) "
        r"excluded, not spread; per year: (?P<years>.+)",
        "{file} : {n} ligne(s) sans code commune ({col} vide : allocataires non localisés par la CAF) écartées, "
        "sans répartition ; par année : {years}.",
    ),
    (
        r"(?P<file>[\w./-]+): (?P<n>\d+) row\(s\) with placeholder (?P<col>\w+) code\(s\) .*? \(not localised\) "
        r"\((?P<codes>[^)]*)\) excluded, not spread; per year: (?P<years>.+)",
        "{file} : {n} ligne(s) au code fictif {codes} (non localisées) écartées, sans répartition ; par année : "
        "{years}.",
    ),
    (
        r"(?P<file>[\w./-]+): (?P<city>\w+) \((?P<name>[^)]+)\) is published by arrondissement only: its COM rows are "
        r"the sum of its (?P<n>\d+) arrondissements \(ARM rows kept too\)\.(?P<rounded> Each arrondissement is "
        r"rounded to 5 by the CAF.*)?",
        "{file} : {name} ({city}) n'est publiée que par arrondissement : la commune est la somme de ses {n} "
        "arrondissements (conservés aussi).{rounded}",
    ),
    (
        r"(?P<file>[\w./-]+): (?P<city>\w+) \((?P<name>[^)]+)\): (?P<n>\d+) arrondissement\(s\) absent from some rows: "
        r"those city values are null \(not_available\), never a partial sum\.",
        "{file} : {name} ({city}) : {n} arrondissement(s) absent(s) de certaines lignes ; la commune y reste vide "
        "(non disponible), jamais une somme partielle.",
    ),
    (
        r"(?P<file>[\w./-]+): foyers and personnes are rounded to 5 by the CAF.*",
        "{file} : foyers et personnes sont arrondis à 5 par la CAF (7 → 5, 12 → 10) : la somme des communes peut "
        "différer légèrement du total publié pour le département ou la France.",
    ),
    (
        r"(?P<file>[\w./-]+): December N is localised in the geography of 1 January N\+1 \(COG (?P<a>\d+) for "
        r"(?P<b>[\d-]+) … COG (?P<c>\d+) for (?P<d>[\d-]+)\)\.",
        "{file} : les données de décembre N sont dans la géographie du 1er janvier N+1 (COG {a} pour {b} … COG {c} "
        "pour {d}).",
    ),
    (
        r"years (?P<a>\d{4})-(?P<b>\d{4}) \(reference month December\)(?P<where>.*?)\.?",
        "Années {a} à {b} (mois de référence : décembre){where}.",
    ),
    (r"years (?P<a>\d{4})-(?P<b>\d{4})", "Années {a} à {b}."),
    (
        r"coverage rates are places per 100 children under 3 \(not a percentage; never re-aggregated\)"
        r"(?:: (?P<n>\d+) value\(s\) above 100)?",
        "Les taux de couverture sont des places pour 100 enfants de moins de 3 ans (pas des pourcentages, jamais "
        "réagrégés){above}.",
    ),
    (
        r"communal file: communes above 10,000 inhabitants only \((?P<com>\d+) COM codes, (?P<arm>\d+) "
        r"arrondissements\); other communes take their EPCI's figure downstream\.",
        "Fichier communal : communes de plus de 10 000 habitants seulement ({com} communes, {arm} arrondissements) ; "
        "les autres communes prennent le taux de leur EPCI.",
    ),
    (
        r"coverage of Paris/Lyon/Marseille is published by arrondissement only \(ARM rows\): no city rate is "
        r"computed\.",
        "Paris, Lyon et Marseille ne sont publiées que par arrondissement : aucun taux n'est calculé pour la ville.",
    ),
    (
        r"EPCI code\(s\) absent from the (?P<cog>.+?) EPCI list, staged as published: (?P<codes>.+)",
        "Code(s) d'EPCI absent(s) de la liste des EPCI du {cog}, repris tels que publiés : {codes}.",
    ),
    (r"national figures are France entière hors Mayotte\.", "Chiffres nationaux : France entière hors Mayotte."),
    (
        r"(?P<year>\d{4}) is in both (?P<a>[\w./-]+) and (?P<b>[\w./-]+): the current file wins; (?P<n>\d+) row\(s\) have "
        r"different values",
        "{year} figure dans {a} et dans {b} : le fichier courant l'emporte ; {n} ligne(s) diffèrent.",
    ),
    (r"census year (?P<year>\d{4}): (?P<n>\d+) variables staged", "Recensement {year} : {n} variables retenues."),
    (r"comparison years read from the header: (?P<years>.+)", "Années de comparaison lues dans l'en-tête : {years}."),
    (
        r"(?P<col>\w+) not in this vintage: indicators that need it will be null \(not_available\)",
        "{col} absente de ce millésime : les indicateurs qui en ont besoin restent vides (non disponible).",
    ),
    (
        r"(?P<n>\d+) arrondissement municipal row\(s\) \(751xx, 6938x, 132xx\) staged at level ARM, apart from their "
        r"city, which the file already counts as a commune: never added to it",
        "{n} ligne(s) d'arrondissement municipal (751xx, 6938x, 132xx) gardées à part : le fichier compte déjà leur "
        "ville comme commune, elles n'y sont jamais ajoutées.",
    ),
    (
        r"(?P<n>\d+) empty cell\(s\) in (?P<rows>\d+) row\(s\) \((?P<codes>[^)]*)\) staged as null \(not_available\)",
        "{n} cellule(s) vide(s) dans {rows} ligne(s) ({codes}) : valeurs non disponibles.",
    ),
    (
        r"(?P<n>\d+) other column\(s\) of the file not staged \(not in the catalogue\)",
        "{n} autre(s) colonne(s) du fichier non retenue(s) (hors catalogue).",
    ),
    (r"EC_MEASURE (?P<code>\w+)", "Mesure {code} de l'état civil."),
    (
        r"(?P<n>\d+) row\(s\) of other zonings dropped \((?P<detail>[^)]*)\)",
        "{n} ligne(s) d'autres zonages écartées ({detail}).",
    ),
    (
        r"(?P<n>\d+) row\(s\) of the pseudo-EPCI (?P<code>\w+) \(communes in no EPCI\) dropped",
        "{n} ligne(s) du pseudo-EPCI {code} (communes hors EPCI) écartées.",
    ),
    (
        r"France level: GEO (?P<code>\w+) staged as FR(?:; other France zonings dropped \((?P<others>[^)]*)\))?",
        "Niveau France : code {code} retenu{others}.",
    ),
    (
        r"(?P<n>\d+) row\(s\) of arrondissement unknown \((?P<codes>[^)]*)\) kept at level ARM; they are already "
        r"counted in their city's commune row",
        "{n} ligne(s) d'arrondissement inconnu ({codes}) gardées à part : elles sont déjà comptées dans leur ville.",
    ),
    (
        r"(?P<n>\d+) cell\(s\) flagged by CONF_STATUS/OBS_STATUS staged null 'secret'",
        "{n} cellule(s) confidentielle(s) selon l'Insee : laissées vides (secret statistique).",
    ),
    (
        r"optional column\(s\) absent, treated as empty: (?P<cols>.+)",
        "Colonne(s) facultative(s) absente(s), traitée(s) comme vides : {cols}.",
    ),
    (r"(?P<n>\d+) (?P<kind>ARM|COM|COMD|COMA)", "{n} {kind_fr}."),
    (r"(?P<n>\d+) event rows", "{n} événements communaux."),
    (r"(?P<n>\d+) départements", "{n} départements."),
    (r"(?P<n>\d+) EPCI", "{n} EPCI."),
    (r"(?P<n>\d+) commune\(s\) in no EPCI \((?P<code>\w+)\)", "{n} commune(s) hors EPCI ({code})."),
    (
        r"(?P<file>[\w./-]+): (?P<com>\d+) communes \(COG (?P<cog>\d+)\) and (?P<arm>\d+) arrondissements municipaux "
        r"\(level ARM, never added to their city again\)",
        "{file} : {com} communes (COG {cog}) et {arm} arrondissements municipaux (gardés à part, jamais ajoutés à "
        "leur ville).",
    ),
    (
        r"(?P<file>[\w./-]+): (?P<s>\d+) row\(s\) entirely secret \(s\), (?P<nd>\d+) row\(s\) entirely not available "
        r"\(nd\)",
        "{file} : {s} ligne(s) entièrement secrète(s) (s), {nd} ligne(s) entièrement non disponible(s) (nd).",
    ),
    (
        r"(?P<file>[\w./-]+): France row \(published code '(?P<code>\w+)'\) staged with code FR",
        "{file} : ligne France (code publié « {code} »).",
    ),
    (
        r"(?P<parent>\w+) carries the households of (?P<children>.+?) \(restored after (?P<year>\d{4}), published nd\): "
        r"its counts are kept for the levels above the commune, its medians and rates are non_recalculable",
        "{parent} porte les ménages de {children} (rétablies après {year}, publiées nd) : ses effectifs comptent "
        "au-dessus de la commune, ses médianes et taux sont non recalculables.",
    ),
    (
        r"accepted by the user \(--accept-drop (?P<source>\w+)\): (?P<detail>.+)",
        "Fichier accepté malgré une couverture réduite (option --accept-drop {source}) : {detail}.",
    ),
    # -- facilities (BPE) -----------------------------------------------------------------------------------------
    (
        r"BPE (?P<year>\d{4}): member (?P<file>[\w./-]+), TIME_PERIOD \d{4}; communes in the geography of 1 January "
        r"(?P<cog>\d{4})",
        "BPE {year} : fichier {file} ; communes dans la géographie du 1er janvier {cog}.",
    ),
    (
        r"(?P<n>\d+) row\(s\) of other measures dropped \((?P<detail>[^)]*)\); (?P<measure>\w+) staged",
        "{n} ligne(s) d'autres mesures écartées ({detail}) : seule la mesure {measure} est retenue.",
    ),
    (
        r"(?P<n>\d+) subtotal row\(s\) \((?P<total>\w+) in a domain, sub-domain or type\) dropped: leaf types only",
        "{n} ligne(s) de sous-total ({total} dans un domaine, un sous-domaine ou un type) écartées : seuls les types "
        "d'équipement détaillés sont retenus.",
    ),
    (
        r"(?P<n>\d+) code\(s\) read without their leading zero were zero-padded",
        "{n} code(s) lu(s) sans leur zéro initial, complété(s).",
    ),
    (
        r"(?P<n>\d+) empty or flagged cell\(s\) staged null '(?P<reason>\w+)', never 0",
        "{n} cellule(s) vide(s) ou signalée(s) par l'Insee : laissée(s) vide(s) ({reason_fr}), jamais 0.",
    ),
    (
        r"(?P<n>\d+) \(commune, type\) pair\(s\) absent from the file staged as 0 \(the BPE lists equipped communes "
        r"only\)(?:; communes without any equipment: (?P<unequipped>.+))?",
        "{n} couple(s) (commune, type d'équipement) absent(s) du fichier comptés 0 : la BPE ne liste que les communes "
        "équipées{unequipped}.",
    ),
    (
        r"(?P<n>\d+) arrondissement row\(s\) staged at level ARM, apart from their city, whose COM row already counts "
        r"them: never added to it(?:; (?P<unequal>\d+) \(city, type\) pair\(s\) where they do not sum to the city's "
        r"row)?",
        "{n} ligne(s) d'arrondissement municipal gardées à part : la ligne de leur ville les compte déjà, elles n'y "
        "sont jamais ajoutées{unequal}.",
    ),
    (
        r"(?P<n>\d+) equipment types staged; the BPE counts equipments, not places",
        "{n} type(s) d'équipement retenu(s) ; la BPE compte des équipements, pas des places.",
    ),
    (
        r"type (?P<type>\w+) \(from BPE (?P<first>\d{4})\) absent from BPE (?P<year>\d{4}): its indicators are null "
        r"\(not_available\)",
        "Type d'équipement {type} (apparu dans la BPE {first}) absent de la BPE {year} : ses indicateurs restent vides "
        "(non disponible).",
    ),
    # -- commune contours -----------------------------------------------------------------------------------------
    (
        r"(?P<n_com>\d+) communes, (?P<n_arm>\d+) arrondissements municipaux, (?P<n_dep>\d+) départements",
        "{n_com} communes, {n_arm} arrondissements municipaux, {n_dep} départements.",
    ),
    (
        r"projected to Lambert-93 \(EPSG:2154\) or the overseas UTM; simplified to (?P<metres>[\d.e+-]+) m",
        "Contours projetés en Lambert-93 (EPSG:2154) ou, outre-mer, dans leur projection UTM ; simplifiés à "
        "{metres} m près.",
    ),
    (
        r"(?P<n>\d+) feature\(s\) of overseas collectivities dropped \(not COG communes\)",
        "{n} contour(s) de collectivités d'outre-mer écarté(s) (ce ne sont pas des communes du COG).",
    ),
    # -- Filosofi: the France-level member, IRIS files ------------------------------------------------------------
    (
        r"France-level member: (?P<file>[\w./-]+), chosen among (?P<candidates>.+?)"
        r"(?: \(also present, not used: (?P<unused>.+)\))?",
        "Niveau France : fichier {file}, choisi parmi {candidates}{unused}.",
    ),
    (
        r"no France-level member in the archive \(tried (?P<tried>[^;]+); the archive holds (?P<held>.*)\): France is "
        r"null not_available, never derived from the communes",
        "Aucun fichier de niveau France dans l'archive (noms cherchés : {tried} ; l'archive contient : {held}) : la "
        "France reste vide (non disponible), jamais déduite des communes.",
    ),
    (
        r"(?P<file>[\w./-]+): (?P<n>\d+) IRIS \(IRIS geography (?P<cog>\d{4})\), (?P<n_measures>\d+) measures; "
        r"(?P<n_withheld>\d+) row\(s\) withheld by the note column (?P<note_column>\w+) \(secret\); cells secret "
        r"\(ns/s\): (?P<n_secret>\d+), not available \(nd\): (?P<n_nd>\d+)",
        "{file} : {n} IRIS (géographie des IRIS {cog}), {n_measures} mesure(s){withheld} ; cellules secrètes (ns/s) : "
        "{n_secret}, non disponibles (nd) : {n_nd}.",
    ),
    (
        r"(?P<file>[\w./-]+): no note column: only the ns/nd markers say what is withheld",
        "{file} : pas de colonne de note, seuls les marqueurs ns/nd signalent les valeurs masquées.",
    ),
    # -- France services ------------------------------------------------------------------------------------------
    (
        r"list of (?P<n>\d+) structures; latest labellisation (?P<date>[\d/]+): staged as year (?P<year>\d{4})",
        "Liste de {n} structure(s) ; dernière labellisation le {date} : données de l'année {year}.",
    ),
    (
        r"(?P<n>\d+) structure\(s\) of Saint-Barthélemy or Saint-Martin \(977, 978\), collectivités absent from the COG "
        r"commune list, left out of the commune counts",
        "{n} structure(s) de Saint-Barthélemy ou de Saint-Martin (977, 978), collectivités absentes de la liste des "
        "communes du COG : non comptée(s) dans les communes.",
    ),
    (r"(?P<kind>\w+): (?P<n>\d+) structure\(s\)", "Type « {kind} » : {n} structure(s)."),
    (
        r"structures of Paris/Lyon/Marseille are listed by arrondissement: counted in their city \((?P<cities>[^)]*)\) "
        r"too; ARM rows kept",
        "Les structures de Paris, Lyon et Marseille sont listées par arrondissement : elles comptent aussi dans leur "
        "ville ({cities}), les arrondissements restant présentés à part.",
    ),
    # -- IRIS reference, census and QPV ---------------------------------------------------------------------------
    (
        r"(?P<n>\d+) IRIS \(geography (?P<cog>\d{4})\): (?P<types>\d+ of type \w+(?:, \d+ of type \w+)*) \(Z: communes "
        r"not divided into IRIS\)",
        "{n} IRIS (géographie {cog}) : {types_fr}.",
    ),
    (
        r"(?P<n>\d+) IRIS of communes changed since COG (?P<cog>\d{4}) placed in their commune of COG (?P<target>\d{4}): "
        r"(?P<moves>.+)",
        "{n} IRIS de communes modifiées depuis le COG {cog} rattaché(s) à leur commune du COG {target} : {moves_fr}.",
    ),
    (
        r"IRIS of communes split since COG (?P<cog>\d{4}) have no single target commune \(left unplaced\): "
        r"(?P<codes>.+)",
        "IRIS de communes scindées depuis le COG {cog}, sans commune unique de rattachement (non rattachés) : {codes}.",
    ),
    (
        r"(?P<n>\d+) IRIS rows \(IRIS geography (?P<cog>\d{4})\): (?P<n_iris>\d+) IRIS of communes divided into IRIS, "
        r"(?P<n_whole>\d+) communes not divided into IRIS \(pseudo-IRIS <commune>0000\); (?P<n_variables>\d+) "
        r"variables",
        "{n} lignes IRIS (géographie des IRIS {cog}) : {n_iris} IRIS de communes découpées en IRIS, {n_whole} "
        "communes non découpées (une ligne : code de la commune suivi de 0000) ; {n_variables} variable(s).",
    ),
    (
        r"(?P<col>\w+) not in this file: the infra-communal figures that need it are null \(not_available\)",
        "{col} absente de ce fichier : les chiffres infracommunaux qui en ont besoin restent vides (non disponible).",
    ),
    (
        r"(?P<n>\d+) empty cell\(s\) staged as null \(not_available\)",
        "{n} cellule(s) vide(s) : valeurs non disponibles.",
    ),
    (
        r"(?P<n>\d+) features, (?P<n_qpv>\d+) QPV in (?P<n_com>\d+) communes \(COG (?P<cog>\d{4})\); (?P<n_across>\d+) "
        r"QPV across several communes; the contours are not read",
        "{n} entités géographiques, {n_qpv} QPV dans {n_com} commune(s) (COG {cog}) ; {n_across} QPV à cheval sur "
        "plusieurs communes ; les contours ne sont pas lus.",
    ),
    (
        r"communes split since COG (?P<cog>\d{4}), their QPV left unplaced: (?P<codes>.+)",
        "Communes scindées depuis le COG {cog}, leurs QPV restent non rattachés : {codes}.",
    ),
    # -- home-work mobility ---------------------------------------------------------------------------------------
    (
        r"RP (?P<year>\d{4}): (?P<n>\d+) flows of (?P<n_homes>\d+) communes and arrondissements of residence",
        "RP {year} : {n} flux domicile-travail au départ de {n_homes} communes et arrondissements de résidence.",
    ),
    (
        r"place of work undetermined \((?P<code>\w+)\): (?P<n>\d+) employed residents, in no share",
        "Lieu de travail indéterminé ({code}) : {n} actifs occupés, exclus des parts.",
    ),
    (r"place of work abroad: (?P<n>\d+) employed residents", "Lieu de travail à l'étranger : {n} actifs occupés."),
)
KINDS_FR = {
    "ARM": "arrondissements municipaux",
    "COM": "communes",
    "COMD": "communes déléguées",
    "COMA": "communes associées",
}
# optional parts of the new sources' notes: the French of the part, {} its value
OPTIONAL_PARTS = {
    "unequipped": " ; communes sans aucun équipement : {}",
    "unequal": " ; {} couple(s) (ville, type d'équipement) où leur somme diffère de la ligne de la ville",
    "unused": " (également présent(s), non utilisé(s) : {})",
}
IRIS_TYPES_FR = {"H": "habitat", "A": "activité", "D": "divers", "Z": "commune non découpée en IRIS"}
_COMPILED = tuple((re.compile(pattern), french) for pattern, french in TRANSLATIONS)


@dataclass(frozen=True)
class Journal:
    lines: tuple[str, ...]  # the notes in French
    untranslated: int  # notes of an unknown form, left in the manifest


def _fill(french: str, groups: dict[str, str | None]) -> str:
    values = {k: v or "" for k, v in groups.items()}
    values.update({k: number(int(v)) for k, v in groups.items() if v and _is_count(k)})
    if "rounded" in groups:
        values["rounded"] = (
            " Chaque arrondissement est arrondi à 5 par la CAF : la ville est une somme de valeurs arrondies."
            if groups["rounded"]
            else ""
        )
    if "n" in groups and "{above}" in french:
        values["above"] = f" ; {groups['n']} valeur(s) au-dessus de 100" if groups["n"] else ""
    if "others" in groups:
        values["others"] = f" ; autres zonages France écartés ({groups['others']})" if groups["others"] else ""
    if "where" in groups:
        values["where"] = " ; communes de l'année N dans la géographie du 1er janvier N+1" if groups["where"] else ""
    if "kind" in groups:
        values["kind_fr"] = KINDS_FR.get(groups["kind"] or "", groups["kind"] or "")
    values.update(_optional_parts(groups, values))
    values.update(_rewritten_groups(groups, values))
    return french.format(**values)


def _is_count(group: str) -> bool:
    """Groups named `n` or `n_…` (and the count of an optional part) are counts, printed the French way."""
    return group == "n" or group.startswith("n_") or group == "unequal"


def _optional_parts(groups: dict[str, str | None], values: dict[str, str]) -> dict[str, str]:
    """The French of each optional part of a note: empty when the note has not got it."""
    parts = {k: OPTIONAL_PARTS[k].format(values[k]) if groups[k] else "" for k in groups if k in OPTIONAL_PARTS}
    if "note_column" in groups:  # a file without a note column says so in a note of its own
        parts["withheld"] = (
            ""
            if groups["note_column"] == "None"
            else (
                f" ; {values['n_withheld']} ligne(s) masquée(s) par la colonne de note {groups['note_column']} "
                "(secret statistique)"
            )
        )
    return parts


def _rewritten_groups(groups: dict[str, str | None], values: dict[str, str]) -> dict[str, str]:
    """Groups shown in another form: codes of null reasons, IRIS types, code changes, decimal numbers."""
    out = {}
    if groups.get("reason"):
        out["reason_fr"] = _NULL_REASONS.get(groups["reason"] or "", groups["reason"] or "")
    if groups.get("types"):
        out["types_fr"] = re.sub(r"(\d+) of type (\w+)", _iris_type, groups["types"] or "")
    if groups.get("moves"):
        out["moves_fr"] = (groups["moves"] or "").replace(" -> ", " → ")
    if groups.get("metres"):
        out["metres"] = (groups["metres"] or "").replace(".", ",")
    return out


def _iris_type(match: re.Match[str]) -> str:
    label = IRIS_TYPES_FR.get(match[2])
    return f"{number(int(match[1]))} de type {match[2]}" + (f" ({label})" if label else "")


def translate(note: str) -> str | None:
    """The note in French, or None when its form is unknown."""
    text = INTERNAL.sub("", note).strip()
    for pattern, french in _COMPILED:
        match = pattern.fullmatch(text)
        if match:
            return _fill(french, match.groupdict()).replace("….", "…")  # a shortened list ends the sentence
    return None


def journal(notes: list[str]) -> Journal:
    french = [translate(n) for n in notes]
    return Journal(tuple(f for f in french if f), sum(1 for f in french if f is None))

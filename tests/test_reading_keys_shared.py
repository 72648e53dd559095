"""The reading keys print a caveat that several indicators repeat word for word once, numbered (P1, P2…), and each
indicator keeps its own sentences and the numbers of the shared ones (issue 13: a compact print without dropping
a word). Caveats written by hand."""

from __future__ import annotations

from types import SimpleNamespace

from reports.sections.reading_keys import caveat_sentences, own_caveat, shared_caveats

BPE = "La BPE compte des équipements, pas des places."
NEAR = "Dans une petite commune, lire plutôt l'EPCI."


def ind(caveat: str) -> SimpleNamespace:
    return SimpleNamespace(caveat=caveat)


def test_a_caveat_is_split_after_a_full_stop_before_a_capital():
    # « 10 000 hab. » inside a sentence, or a full stop before a lower-case word, does not split
    text = "Capacité théorique ; taux de l'EPCI. Publié pour 10 000 hab. et plus. Effectifs arrondis à 5."
    assert caveat_sentences(text) == [
        "Capacité théorique ; taux de l'EPCI.",
        "Publié pour 10 000 hab. et plus.",
        "Effectifs arrondis à 5.",
    ]
    assert caveat_sentences("") == []


def test_a_sentence_of_three_indicators_is_shared_and_each_keeps_its_own_words():
    items = [
        ind(f"{BPE} {NEAR}"),
        ind(f"{BPE} Type D509 absent avant 2025."),
        ind(f"{BPE} {NEAR} Un relais couvre plusieurs communes."),
        ind(f"{NEAR}"),  # NEAR: three indicators (1st, 3rd, 4th) -> shared, second in order of first appearance
        ind("Un relais couvre plusieurs communes."),  # two indicators only: stays with each
        ind(""),
    ]
    shared = shared_caveats(items)
    assert shared == [BPE, NEAR]
    assert own_caveat(items[0].caveat, shared) == ("", ["P1", "P2"])
    assert own_caveat(items[1].caveat, shared) == ("Type D509 absent avant 2025.", ["P1"])
    assert own_caveat(items[2].caveat, shared) == ("Un relais couvre plusieurs communes.", ["P1", "P2"])
    assert own_caveat(items[4].caveat, shared) == ("Un relais couvre plusieurs communes.", [])
    assert own_caveat("", shared) == ("", [])


def test_a_sentence_repeated_inside_one_caveat_counts_once():
    items = [ind(f"{BPE} {BPE}"), ind(BPE)]  # two indicators, whatever the repeats: not shared
    assert shared_caveats(items) == []

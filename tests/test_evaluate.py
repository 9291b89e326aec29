from helpers.evaluate import (QueryResult, first_relevant_rank, ranks_note, recall_at, relevance_note,
                              results_table, run_queries)
from helpers.media import Interval, Query
from helpers.segments import Hit

Q_BIKES = Query("bicycles", (Interval("bikes", 0, 10),))
Q_TREE = Query("a tree", (Interval("montage", 20, 30),))


def _hit(video, start, end, score=0.5):
    return Hit(video, start, end, score)


def test_recall_counts_overlaps_at_each_k():
    hits = {
        "bicycles": [_hit("bikes", 0, 6)],
        "a tree": [_hit("montage", 0, 6), _hit("bikes", 0, 6), _hit("montage", 24, 30)],
    }
    results = run_queries([Q_BIKES, Q_TREE], lambda text: hits[text])
    assert [r.first_relevant_rank() for r in results] == [1, 3]
    assert recall_at(results, 1) == 0.5
    assert recall_at(results, 3) == 1.0
    table = results_table(results, ks=(1, 3))
    assert list(table["found@1"]) == [True, False]


def test_touching_is_not_overlapping():
    result = QueryResult(Q_TREE, (_hit("montage", 30, 36), _hit("montage", 14, 20)))
    assert result.first_relevant_rank() is None


def test_relevance_note_says_what_the_hits_say():
    right_first = [_hit("montage", 24, 30, 0.9), _hit("bikes", 0, 6, 0.8)]
    note = relevance_note(right_first, Q_TREE)
    assert note.startswith("The top hit is one of the relevant stretches: yes.")
    assert "First relevant hit: rank 1 (montage 24–30 s, score 0.900)" in note
    assert "first wrong hit: rank 2 (bikes 0–6 s, score 0.800)" in note
    wrong_first = list(reversed(right_first))
    assert relevance_note(wrong_first, Q_TREE).startswith("The top hit is one of the relevant stretches: no.")
    assert "First relevant hit: none in the top 1" in relevance_note(wrong_first[:1], Q_TREE)


def test_ranks_note_names_each_lists_first_relevant_rank():
    lists = {"a": [_hit("bikes", 0, 6), _hit("montage", 20, 26)], "b": [_hit("bikes", 0, 6)]}
    assert ranks_note(lists, Q_TREE) == "First relevant hit at rank: a 2; b none"
    assert first_relevant_rank(lists["a"], Q_TREE) == 2

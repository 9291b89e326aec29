from helpers.evaluate import QueryResult, recall_at, results_table, run_queries
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

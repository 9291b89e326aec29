"""The note every chapter prints about where its vectors come from: it names the origin it
finds (the recordings' own ``source`` fields in replay), and says what that origin means."""

import json

from coursekit.labels import STANDIN_SOURCE
from coursekit.transports.record import LIVE_SOURCE
from helpers.client import make_client, vectors_note
from helpers.settings import Settings


def _replay_of(tmp_path, *sources):
    for n, source in enumerate(sources):
        (tmp_path / f"r{n}.json").write_text(json.dumps({"source": source, "request": {}, "response": {}}))
    settings = Settings(mode="replay", recordings_dir=tmp_path, cache_dir=tmp_path / "cache")
    return make_client(settings, cache=False)


def test_stand_in_recordings_say_so_with_the_chapters_own_caveat(tmp_path):
    note = vectors_note(_replay_of(tmp_path, STANDIN_SOURCE), standin="No waving here.")
    assert STANDIN_SOURCE in note and "not motion" in note and note.endswith("No waving here.")


def test_marengo_recordings_are_named_and_carry_no_stand_in_caveat(tmp_path):
    note = vectors_note(_replay_of(tmp_path, LIVE_SOURCE), standin="No waving here.")
    assert LIVE_SOURCE in note and "Marengo" in note and "stand-in" not in note and "waving" not in note


def test_unknown_or_mixed_origins_send_the_reader_to_the_computed_verdicts(tmp_path):
    note = vectors_note(_replay_of(tmp_path, STANDIN_SOURCE, "some other model"))
    assert "some other model" in note and "verdict" in note and "not motion" not in note

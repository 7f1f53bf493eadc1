"""Record modes: when a recording server goes upstream, in vcrpy's words.

vcrpy decides per cassette file; here the cassette is a folder (``--record
DIR``) holding one file per exchange, so each mode is defined on the folder:

``all`` (the default: what ``--record`` always did)
    Every chat request goes upstream and is recorded, replacing the cassette
    of the same request (a warning names each file replaced). Nothing is
    replayed, fixtures included.
``new_episodes``
    A request is answered as usual (a fixture, a cassette in DIR or in
    ``--fixtures``, a recorded conversation); one that nothing answers goes
    upstream and is recorded, and is replayed from then on.
``once``
    ``new_episodes`` while DIR held no cassette at start-up (a first run
    records everything, and replays what it recorded), ``none`` once it held
    one: a request nobody recorded is then an error naming the closest
    recordings, not a new cassette (vcrpy's
    ``CannotOverwriteExistingCassetteException``). Delete DIR to re-record.
``none``
    Replay only: nothing goes upstream (``--upstream`` is not needed); a
    request that nothing answers is the no-match 404, whatever
    ``--unmatched`` says.

Why the handler decides first and the recorder second: the source order
(fixture, cassette, conversation) is the handler's, and it must not know
about HTTP; when no source answers, it raises :class:`Unrecorded`, which the
recorder (``mockserver.server.proxy``) turns into an upstream exchange or,
where the mode forbids recording, into the no-match error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from mockserver.errors import MockError
from mockserver.recording.cassette import SUFFIX

MODES = ("all", "new_episodes", "once", "none")
DEFAULT_MODE = "all"


class Unrecorded(MockError):
    """No source answered a request in a mode that replays: the recorder may record it.

    The message is the no-match report; when the recorder may not go
    upstream, the client gets this error (404 ``mock_no_match``) with the
    reason the mode gives prefixed (:meth:`refused`).
    """

    status = 404
    type = "mock_no_match"
    code = "mock_no_match"

    def __init__(self, report: str) -> None:
        super().__init__(f"No fixture or recording matched this request. {report}")
        self.report = report

    def refused(self, reason: str) -> MockError:
        return MockError(f"No fixture or recording matched this request, and {reason}. {self.report}",
                         status=self.status, type=self.type, code=self.code)


def replays(mode: str) -> bool:
    """Whether requests are first answered from what is loaded (every mode but ``all``)."""
    return mode != "all"


def may_record(mode: str, cassettes_at_start: int) -> bool:
    """Whether a request that nothing answered goes upstream."""
    return mode in ("all", "new_episodes") or (mode == "once" and cassettes_at_start == 0)


def count_cassettes(directory: Path) -> int:
    """Cassette files under ``directory`` (recursively); 0 when it does not exist."""
    return sum(1 for p in Path(directory).rglob("*" + SUFFIX) if p.is_file()) if Path(directory).is_dir() else 0


def refusal(mode: str, directory: Path, cassettes_at_start: int) -> str:
    """Why an unanswered request was not sent upstream, in words (completes :meth:`Unrecorded.refused`)."""
    if mode == "none":
        return "--record-mode none never goes upstream"
    return (f"--record-mode once records only into a cassette folder that was empty at start-up: {directory} "
            f"held {cassettes_at_start} cassette(s), so this request was not sent upstream (delete the folder "
            "to record everything again, or use --record-mode new_episodes to add new requests)")


def fixture_dirs(fixtures: Iterable[Path], record: Path | None, mode: str) -> list[Path]:
    """The folders to load: ``--fixtures``, plus the cassette folder when the mode replays it."""
    dirs = [Path(p) for p in fixtures]
    if record is not None and replays(mode):
        resolved = {p.resolve() for p in dirs}
        if Path(record).resolve() not in resolved:
            dirs.append(Path(record))
    return dirs

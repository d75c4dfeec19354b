"""The reproduction ledger: every claim of a paper that a page checks, the paper's value beside the book's.

A page names itself once (:func:`page`), then checks each claim with :func:`claim` instead of a bare
``assert``: the claim is recorded, and a claim that does not hold raises ``AssertionError`` with its
statement, both values and the note, as an assert cell would. Where the environment variable
``MINIMA_CLAIMS_DIR`` names a folder (the book build and the chapter tests set it), the page's claims are
written, each time one is recorded, to ``<folder>/chapters/<page>.claims.json``, beside that run's
executed notebooks and never into the source tree; without it nothing is written. The book's page
"Reproduction report" is generated from these files (``_ext/claims_report.py``).

Two things are recorded apart. Whether the book's own check holds (``holds``: it must, or the page fails)
and how the claim stands to its paper (``stands``, one of :data:`STANDINGS`): the paper's quantity in its
setting, the same in another setting, the paper's mechanism measured where its theorem gives no bound,
an error of the paper that the book found and checks, or a finding of the book's own. The status shown in
the report is the standing of a claim that holds, ``"not checked at this size"`` for ``holds=None``, and
``"differs"`` for one that failed (seen only in the ledger of a failed run).

Chapters 1–7.
"""
from __future__ import annotations

import json
import math
import os
import re
import textwrap
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["Claim", "page", "claim", "passed", "recorded", "ledger_file", "read_ledgers", "summary_lines",
           "CLAIMS_DIR", "STANDINGS", "STATUSES"]

CLAIMS_DIR = "MINIMA_CLAIMS_DIR"
"""The environment variable naming the folder the ledgers are written to."""
STANDINGS = ("reproduced", "reproduced in another setting", "outside the paper's hypotheses", "paper corrected",
             "book finding")
"""How a claim stands to its paper: its quantity in its setting (or at a smaller size of it); the same
quantity in a setting that differs (the note says how and why); the paper's mechanism measured where its
hypotheses fail (the note says which and by how much); an error of the paper, found and checked (the note
says what the paper has and what holds); a result of the book's own."""
STATUSES = (*STANDINGS, "not checked at this size", "differs")
"""A claim's status in the report: its standing when it holds, else not checked (``holds=None``) or
differs (``holds=False``, a failed run)."""
WIDTH = 88
"""The width of a page's printed lines."""

_PAGE = re.compile(r"^\d\d_[a-z0-9_]+(/\d+_[a-z0-9_]+)?$")
_ID = re.compile(r"^[a-z0-9][a-z0-9.\-]*$")
_current_page: str | None = None
_claims: dict[str, "Claim"] = {}


@dataclass(frozen=True)
class Claim:
    """One recorded claim. ``paper_value`` and ``book_value`` are text as printed; ``holds`` is the
    decision (``None``: not checkable at this profile's size, said in ``note``). Chapters 1–7."""
    id: str
    page: str
    statement: str
    source: str
    paper_value: str
    book_value: str
    holds: bool | None
    note: str
    stands: str = STANDINGS[0]

    @property
    def status(self) -> str:
        """One of :data:`STATUSES`: ``stands`` when the claim holds, else ``"not checked at this size"``
        (``holds`` None) or ``"differs"`` (``holds`` False)."""
        return self.stands if self.holds else STATUSES[-2] if self.holds is None else STATUSES[-1]

    def summary(self, width: int = WIDTH) -> str:
        """What was checked and how it came out, in lines of at most ``width`` characters: the
        statement and status, then the paper's and the book's value."""
        mark = "✓" if self.holds else "·" if self.holds is None else "✗"
        head = textwrap.wrap(f"{mark} {self.statement} [{self.status}]", width,
                             subsequent_indent="  ")
        values = textwrap.wrap(f"paper: {self.paper_value} | book: {self.book_value}", width,
                               initial_indent="  ", subsequent_indent="    ")
        return "\n".join(head + values)


def _as_text(name: str, value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{name} must be a number or a string, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or a string, got {type(value).__name__}") from None
    if math.isnan(number):
        return "nan"
    return f"{number:.4g}"


def page(name: str) -> None:
    """Start the ledger of the page ``name`` (``NN_slug`` or ``NN_slug/K_topic``, its path under
    ``chapters/`` without ``.md``), forgetting the claims recorded before in this kernel. Chapters 1–7."""
    global _current_page
    if not isinstance(name, str) or not _PAGE.match(name):
        raise ValueError(f"name must be a page such as '04_angular_volume' or '04_angular_volume/2_topic', "
                         f"got {name!r}")
    _current_page = name
    _claims.clear()
    _write()


def claim(id: str, statement: str, source: str, paper_value, book_value, holds, *, note: str = "",
          stands: str = "reproduced", quiet: bool = False) -> None:
    """Record the claim ``id`` of the current page and assert it.

    ``statement``: what is claimed, in a sentence; ``source``: the paper and the place (theorem, equation,
    figure, table, section); ``paper_value``: the paper's number, bound or statement as printed (a string
    where it gives no number); ``book_value``: what this run measured; ``holds``: the decision, ``True``,
    ``False`` or ``None`` (not checkable at this size: say why in ``note``, which also says where the
    book's setting differs from the paper's); ``stands``: how the claim stands to its paper, one of
    :data:`STANDINGS` (every standing but ``"reproduced"`` needs a ``note`` that says why). Numbers are
    written with four significant digits. A claim with ``holds=False`` is recorded as differing, then
    raises ``AssertionError``. Recording an ``id`` again replaces its claim (a cell run twice); another
    statement under a recorded ``id`` is a ``ValueError``. Prints the claim's summary
    (:meth:`Claim.summary`: what was checked, the two values, the status) unless ``quiet``; returns
    nothing. Chapters 1–8.
    """
    if _current_page is None:
        raise ValueError("no page: call minima.claims.page('NN_slug/K_topic') first")
    if not isinstance(id, str) or not _ID.match(id):
        raise ValueError(f"id must be lower-case letters, digits, dots and dashes, got {id!r}")
    for name, value in (("statement", statement), ("source", source)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    if not isinstance(note, str):
        raise ValueError(f"note must be a string, got {type(note).__name__}")
    if holds is not None:
        scalar_bool = getattr(holds, "ndim", None) == 0 and "bool" in str(getattr(holds, "dtype", ""))
        if not (isinstance(holds, bool) or scalar_bool):  # numpy and torch booleans are taken too
            raise ValueError(f"holds must be True, False or None, got {holds!r}")
        holds = bool(holds)
    if holds is None and not note.strip():
        raise ValueError("a claim not checked at this size (holds=None) needs a note saying why")
    if stands not in STANDINGS:
        raise ValueError(f"stands must be one of {', '.join(map(repr, STANDINGS))}, got {stands!r}")
    if stands != STANDINGS[0] and not note.strip():
        raise ValueError(f"a claim that stands as {stands!r} needs a note saying how")
    if id in _claims and _claims[id].statement != statement.strip():
        raise ValueError(f"id {id!r} is already a claim of this page ({_claims[id].statement!r})")
    recorded_claim = Claim(id, _current_page, statement.strip(), source.strip(), _as_text("paper_value", paper_value),
                           _as_text("book_value", book_value), holds, note.strip(), stands)
    _claims[id] = recorded_claim
    _write()
    if not quiet:
        print(recorded_claim.summary(), flush=True)
    if holds is False:
        raise AssertionError(f"claim {id} does not hold: {statement} (paper: {recorded_claim.paper_value}; "
                             f"book: {recorded_claim.book_value}){' ' + note if note else ''}")


def passed(what: str) -> None:
    """Print ``✓ what`` (wrapped to the page's width): the one line a reader sees of a folded check
    that is not a paper's claim. Call it after the check's asserts. Chapters 1–8."""
    if not isinstance(what, str) or not what.strip():
        raise ValueError(f"what must be a non-empty string, got {what!r}")
    print("\n".join(textwrap.wrap(f"✓ {what.strip()}", WIDTH, subsequent_indent="  ")), flush=True)


def summary_lines(rows: list[dict]) -> str:
    """The count line of a report: ``K claims on P pages: n1 reproduced, n2 …`` over every status
    in :data:`STATUSES` (``rows``: dicts with ``status`` and ``page``). Chapters 1–8, through the report."""
    counts = {status: sum(row["status"] == status for row in rows) for status in STATUSES}
    pages = len({row["page"] for row in rows})
    return f"{len(rows)} claims on {pages} pages: " + ", ".join(f"{n} {status}" for status, n in counts.items())


def recorded() -> list[Claim]:
    """The claims recorded so far on the current page, in order. Chapters 1–7."""
    return list(_claims.values())


def ledger_file(name: str, directory: str | os.PathLike | None = None) -> Path | None:
    """Where the ledger of page ``name`` is written: ``<directory>/chapters/<name>.claims.json``, the
    directory from ``MINIMA_CLAIMS_DIR`` by default (``None`` when that is unset). Chapters 1–7."""
    directory = directory if directory is not None else os.environ.get(CLAIMS_DIR)
    if not directory:
        return None
    return Path(directory) / "chapters" / f"{name}.claims.json"


def _write() -> None:
    path = ledger_file(_current_page) if _current_page else None
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{**asdict(c), "status": c.status} for c in _claims.values()]
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"page": _current_page, "claims": rows}, indent=1, ensure_ascii=False))
    temporary.replace(path)


def read_ledgers(directory: str | os.PathLike) -> dict[str, list[dict]]:
    """Every ledger under ``directory``: page name → its claims (dicts with the fields of :class:`Claim`
    and ``status``). Chapters 1–7, through the report page."""
    ledgers = {}
    for path in sorted(Path(directory).glob("chapters/**/*.claims.json")):
        data = json.loads(path.read_text())
        ledgers[data["page"]] = data["claims"]
    return ledgers

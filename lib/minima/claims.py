"""The reproduction ledger: every claim of a paper that a page checks, the paper's value beside the book's.

A page names itself once (:func:`page`), then checks each claim with :func:`claim` instead of a bare
``assert``: the claim is recorded, and a claim that does not hold raises ``AssertionError`` with its
statement, both values and the note, as an assert cell would. Where the environment variable
``MINIMA_CLAIMS_DIR`` names a folder (the book build and the chapter tests set it), the page's claims are
written, each time one is recorded, to ``<folder>/chapters/<page>.claims.json``, beside that run's
executed notebooks and never into the source tree; without it nothing is written. The book's page
"Reproduction report" is generated from these files (``_ext/claims_report.py``).

Chapters 1–6.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["Claim", "page", "claim", "recorded", "ledger_file", "read_ledgers", "CLAIMS_DIR", "STATUSES"]

CLAIMS_DIR = "MINIMA_CLAIMS_DIR"
"""The environment variable naming the folder the ledgers are written to."""
STATUSES = ("reproduced", "differs", "not checked at this size")
"""A claim's status: ``holds`` True, False or None."""

_PAGE = re.compile(r"^\d\d_[a-z0-9_]+(/\d+_[a-z0-9_]+)?$")
_ID = re.compile(r"^[a-z0-9][a-z0-9.\-]*$")
_current_page: str | None = None
_claims: dict[str, "Claim"] = {}


@dataclass(frozen=True)
class Claim:
    """One recorded claim. ``paper_value`` and ``book_value`` are text as printed; ``holds`` is the
    decision (``None``: not checkable at this profile's size, said in ``note``). Chapters 1–6."""
    id: str
    page: str
    statement: str
    source: str
    paper_value: str
    book_value: str
    holds: bool | None
    note: str

    @property
    def status(self) -> str:
        """``"reproduced"``, ``"differs"`` or ``"not checked at this size"``."""
        return STATUSES[0] if self.holds else STATUSES[2] if self.holds is None else STATUSES[1]


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
    ``chapters/`` without ``.md``), forgetting the claims recorded before in this kernel. Chapters 1–6."""
    global _current_page
    if not isinstance(name, str) or not _PAGE.match(name):
        raise ValueError(f"name must be a page such as '04_angular_volume' or '04_angular_volume/2_topic', "
                         f"got {name!r}")
    _current_page = name
    _claims.clear()
    _write()


def claim(id: str, statement: str, source: str, paper_value, book_value, holds, *, note: str = "") -> None:
    """Record the claim ``id`` of the current page and assert it.

    ``statement``: what is claimed, in a sentence; ``source``: the paper and the place (theorem, equation,
    figure, table, section); ``paper_value``: the paper's number, bound or statement as printed (a string
    where it gives no number); ``book_value``: what this run measured; ``holds``: the decision, ``True``,
    ``False`` or ``None`` (not checkable at this size: say why in ``note``, which also says where the
    book's setting differs from the paper's). Numbers are written with four significant digits. A claim
    with ``holds=False`` is recorded as differing, then raises ``AssertionError``. Recording an ``id``
    again replaces its claim (a cell run twice); another statement under a recorded ``id`` is a
    ``ValueError``. Returns nothing, so
    that a claim at the end of a cell prints nothing (:func:`recorded` lists them). Chapters 1–6.
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
    if id in _claims and _claims[id].statement != statement.strip():
        raise ValueError(f"id {id!r} is already a claim of this page ({_claims[id].statement!r})")
    recorded_claim = Claim(id, _current_page, statement.strip(), source.strip(), _as_text("paper_value", paper_value),
                           _as_text("book_value", book_value), holds, note.strip())
    _claims[id] = recorded_claim
    _write()
    if holds is False:
        raise AssertionError(f"claim {id} does not hold: {statement} (paper: {recorded_claim.paper_value}; "
                             f"book: {recorded_claim.book_value}){' ' + note if note else ''}")


def recorded() -> list[Claim]:
    """The claims recorded so far on the current page, in order. Chapters 1–6."""
    return list(_claims.values())


def ledger_file(name: str, directory: str | os.PathLike | None = None) -> Path | None:
    """Where the ledger of page ``name`` is written: ``<directory>/chapters/<name>.claims.json``, the
    directory from ``MINIMA_CLAIMS_DIR`` by default (``None`` when that is unset). Chapters 1–6."""
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
    and ``status``). Chapters 1–6, through the report page."""
    ledgers = {}
    for path in sorted(Path(directory).glob("chapters/**/*.claims.json")):
        data = json.loads(path.read_text())
        ledgers[data["page"]] = data["claims"]
    return ledgers

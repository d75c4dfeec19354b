"""The directive ``{claims-report}``: the reproduction report, generated from the claims the pages
recorded when they ran (``minima.claims``).

The ledgers are read from the folder ``MINIMA_CLAIMS_DIR`` names (``python3 dev.py book`` sets it to
``_build/<profile>/claims``, the chapter tests to the folder of their executed notebooks), after every
page was read and executed, so the report shows the claims of the profile being built. One table per
chapter: claim (linked to the page that checks it, with its note below), source, the paper's value, the
book's value and the status. The same rows are written to ``claims.json`` in the folder above the ledgers,
as a list of objects with the keys ``id, chapter, page, statement, source, paper_value, book_value,
status, note``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util.docutils import SphinxDirective

from minima.claims import STATUSES, summary_lines
COLUMNS = ("claim", "source", "paper", "book", "status")


class claims_report(nodes.General, nodes.Element):
    """Placeholder, filled in after all pages were read (and executed)."""


class ClaimsReportDirective(SphinxDirective):
    has_content = False

    def run(self):
        return [claims_report()]


def read_rows(directory: Path) -> list[dict]:
    """Every recorded claim under ``directory``, ordered by page, as the rows of ``claims.json``."""
    rows = []
    for path in sorted(directory.glob("chapters/**/*.claims.json")):
        data = json.loads(path.read_text())
        for claim in data["claims"]:
            rows.append({"id": claim["id"], "chapter": data["page"].split("/")[0], "page": data["page"],
                         "statement": claim["statement"], "source": claim["source"],
                         "paper_value": claim["paper_value"], "book_value": claim["book_value"],
                         "status": claim["status"], "note": claim["note"]})
    return sorted(rows, key=lambda row: row["page"])  # stable: a page keeps its own order


def summary(rows: list[dict]) -> str:
    return summary_lines(rows) + "."


def _table(rows: list[dict], builder, docname: str) -> nodes.table:
    table = nodes.table(classes=["claims-table"])
    group = nodes.tgroup(cols=len(COLUMNS))
    table += group
    for width in (40, 16, 17, 17, 10):
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    header = nodes.row()
    for title in ("claim", "source", "paper's value", "book's value", "status"):
        header += nodes.entry("", nodes.paragraph(text=title))
    head += header
    body = nodes.tbody()
    group += body
    for row in rows:
        line = nodes.row(ids=[f"claim-{row['id']}"])
        link = nodes.reference("", row["statement"],
                               refuri=builder.get_relative_uri(docname, f"chapters/{row['page']}"))
        claim_cell = nodes.paragraph()
        claim_cell += link
        claim_cell += nodes.Text(" ")
        claim_cell += nodes.literal(text=row["id"])
        cell = nodes.entry("", claim_cell)
        if row["note"]:
            cell += nodes.paragraph("", "", nodes.emphasis(text=row["note"]), classes=["claims-note"])
        line += cell
        for key in ("source", "paper_value", "book_value"):
            line += nodes.entry("", nodes.paragraph(text=row[key]))
        line += nodes.entry("", nodes.paragraph("", "", nodes.strong(text=row["status"])))
        body += line
    return table


class FillClaimsReport(SphinxPostTransform):
    default_priority = 400

    def run(self, **kwargs) -> None:
        placeholders = list(self.document.findall(claims_report))
        if not placeholders:
            return
        directory = os.environ.get("MINIMA_CLAIMS_DIR")
        rows = read_rows(Path(directory)) if directory and Path(directory).is_dir() else []
        content = []
        if not rows:
            content.append(nodes.paragraph(text="No claims were recorded in this build: the pages were "
                                                "executed elsewhere, without MINIMA_CLAIMS_DIR."))
        else:
            content.append(nodes.paragraph("", "", nodes.strong(text=summary(rows)),
                                           classes=["claims-count"]))
            for chapter in sorted({row["chapter"] for row in rows}):
                docname = f"chapters/{chapter}"
                title = self.env.titles.get(docname)
                section = nodes.rubric(text=title.astext() if title is not None else chapter)
                content.append(section)
                content.append(_table([r for r in rows if r["chapter"] == chapter], self.app.builder,
                                      self.env.docname))
        for node in placeholders:
            node.replace_self(content)


def write_json(app, exception) -> None:
    directory = os.environ.get("MINIMA_CLAIMS_DIR")
    if exception is not None or not directory or not Path(directory).is_dir():
        return
    rows = read_rows(Path(directory))
    (Path(directory).parent / "claims.json").write_text(json.dumps(rows, indent=1, ensure_ascii=False))


def report_pages_are_always_outdated(app, env, added, changed, removed):
    """The report's source never changes, but the claims it shows do: re-read it in every build."""
    return [name for name in env.found_docs if name.split("/")[-1] == "reproduction_report"]


def setup(app):
    app.add_node(claims_report)
    app.connect("env-get-outdated", report_pages_are_always_outdated)
    app.add_directive("claims-report", ClaimsReportDirective)
    app.add_post_transform(FillClaimsReport)
    app.connect("build-finished", write_json)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

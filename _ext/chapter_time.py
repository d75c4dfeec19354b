"""The role ``{chapter-time}`this chapter``: how long this page's notebook took to execute in the
build that rendered it, as recorded by MyST-NB's execution (the record the running page's
``{nb-exec-table}`` shows). A page rendered from notebooks executed elsewhere says so instead of
printing a number.
"""
from __future__ import annotations

import os

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform


class chapter_time(nodes.inline):
    """Placeholder, filled in after all pages were read (and executed)."""


def chapter_time_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    return [chapter_time(rawtext, "")], []


def describe(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


class FillChapterTimes(SphinxPostTransform):
    default_priority = 400

    def run(self, **kwargs) -> None:
        from myst_nb.sphinx_ import NbMetadataCollector

        data = NbMetadataCollector.get_exec_data(self.env, self.env.docname) or {}
        runtime = data.get("runtime")
        profile = os.environ.get("BOOK_PROFILE", "book")
        if runtime:
            text = f"{describe(runtime)} at the {profile} profile"
        else:
            text = "not measured in this build"
        for node in self.document.findall(chapter_time):
            node.replace_self(nodes.Text(text))


def setup(app):
    app.add_role("chapter-time", chapter_time_role)
    app.add_post_transform(FillChapterTimes)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

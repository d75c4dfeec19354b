"""Serve MathJax from the built book itself, so its mathematics renders with no network.

Sphinx loads MathJax from a CDN by default; a book opened from disk, in a lecture hall or on a course
platform would then show raw TeX. This extension copies MathJax 3 (the files shipped by the pinned
``django-static-mathjax`` package: the ``tex-mml-chtml`` bundle with its fonts and lazily loaded
components) into ``_static/mathjax`` of the HTML build and points ``mathjax_path`` at it.
"""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from sphinx.errors import ExtensionError

BUNDLE = "tex-mml-chtml.js"
TARGET = "mathjax"  # under _static


def mathjax_source() -> Path:
    """The ``es5`` folder of the installed MathJax files."""
    spec = importlib.util.find_spec("mathjax")
    folders = [] if spec is None else list(spec.submodule_search_locations or [])
    for folder in folders:
        es5 = Path(folder) / "static" / "mathjax" / "es5"
        if (es5 / BUNDLE).is_file():
            return es5
    raise ExtensionError("MathJax files not found: install the book's requirements "
                         "(django-static-mathjax ships them)")


def use_local_copy(app, config) -> None:
    config.mathjax_path = f"{TARGET}/{BUNDLE}"


def copy_mathjax(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    source, target = mathjax_source(), Path(app.outdir) / "_static" / TARGET
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copy2(source / BUNDLE, target / BUNDLE)
    for folder in source.iterdir():  # components MathJax loads on demand: fonts, extensions, menu
        if folder.is_dir():
            shutil.copytree(folder, target / folder.name)


def setup(app):
    mathjax_source()  # fail at start, not after an hour of execution
    app.connect("config-inited", use_local_copy)
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

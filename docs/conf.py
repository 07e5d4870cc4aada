"""Sphinx configuration of the gnnnas documentation (build: ``sphinx-build -W --keep-going -b html docs docs/_build/html``)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

import gnnnas  # noqa: E402

project = "gnnnas"
author = "gnnnas developers"
copyright = "gnnnas developers"  # noqa: A001
release = gnnnas.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",  # the pages are Markdown
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # Google-style "Args:" / "Returns:" docstrings
    "sphinx.ext.viewcode",
    "sphinxarg.ext",  # the CLI reference, generated from gnnnas.cli.build_parser
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# MyST: ```{directive} fences, "#anchor" links to headings of the pages
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# autodoc: members in source order, type hints in the description, not the signature
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
# scikit-learn generates set_*_request methods on estimators; their docstrings cite sklearn's own glossary
autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
    "exclude-members": "set_fit_request, set_predict_request, set_score_request, set_transform_request",
}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

html_theme = "furo" if __import__("importlib").util.find_spec("furo") else "alabaster"
html_title = f"gnnnas {release}"
smartquotes = False  # keep "--option" and quotes as typed (the CLI reference, code-like text)


# Docstrings name objects by their public path (``gnnnas.SearchSpace``) or their defining module
# (``gnnnas.graph.ArchGraph``); the reference documents each once, so map those to where it is.
_ALIASES = {
    "gnnnas.SearchSpace": "gnnnas.spaces.SearchSpace",
    "gnnnas.Benchmark": "gnnnas.data.Benchmark",
    "gnnnas.MissingDataError": "gnnnas.data.MissingDataError",
    "gnnnas.load_benchmark": "gnnnas.data.load_benchmark",
    "gnnnas.get_space": "gnnnas.spaces.get_space",
    "gnnnas.spaces.base.": "gnnnas.spaces.",
    "gnnnas.spaces.registry.": "gnnnas.spaces.",
    "gnnnas.data.benchmark.": "gnnnas.data.",
    "gnnnas.graph.": "gnnnas.",
    "gnnnas.predictor.": "gnnnas.",
}


def _resolve_alias(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    for old, new in _ALIASES.items():
        if target == old or (old.endswith(".") and target.startswith(old)) or target.startswith(old + "."):
            alias = new + target[len(old):]
            return env.get_domain("py").resolve_xref(
                env, node["refdoc"], app.builder, node["reftype"], alias, node, contnode
            )
    return None

# ``optional-automodule``: autodoc of a module that may be absent from this checkout (modules other
# engineers are adding) in a MyST page. Present: exactly ``.. automodule::``; absent: one sentence.
def setup(app):
    import importlib.util

    from docutils import nodes
    from docutils.statemachine import StringList
    from sphinx.util.docutils import SphinxDirective

    class OptionalAutomodule(SphinxDirective):
        required_arguments = 1

        def run(self):
            name = self.arguments[0]
            try:
                present = importlib.util.find_spec(name) is not None
            except ModuleNotFoundError:
                present = False
            if not present:
                return [nodes.paragraph(text=f"{name} is not part of this version.")]
            container = nodes.container()
            # the pages are MyST Markdown: autodoc's output must be read as reStructuredText
            lines = ["```{eval-rst}", f".. automodule:: {name}", "```"]
            self.state.nested_parse(StringList(lines), self.content_offset, container)
            return container.children

    app.add_directive("optional-automodule", OptionalAutomodule)
    app.connect("missing-reference", _resolve_alias)
    return {"parallel_read_safe": True}

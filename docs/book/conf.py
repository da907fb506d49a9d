"""Sphinx configuration of the rendered book (built by ``python docs/book/build.py``).

The notebooks are rendered with their committed outputs (MyST-NB, never executed here); MathJax 3
comes from the ``sphinx-mathjax-offline`` package and is copied into the site, so neither the
build nor a reader's browser fetches anything from the network.
"""
project = "perceiver-edu"
author = "the perceiver-edu authors"
root_doc = "index"                                   # the landing page: the README (build.py stages it as index.md)

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.mathjax", "sphinx-mathjax-offline"]
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3                             # [text](#some-heading) links inside a page
nb_execution_mode = "off"                            # the committed outputs, as they are
nb_ipywidgets_js = {}                                # no widget JavaScript from a CDN: the explorer is static here
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}

html_theme = "alabaster"
html_title = "perceiver-edu"
html_theme_options = {"description": "The Perceiver, built piece by piece in PyTorch", "page_width": "1180px",
                      "sidebar_width": "260px", "show_relbars": True}
html_sidebars = {"**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]}
html_show_sourcelink = False

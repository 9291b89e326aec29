"""Sphinx settings for the course's website. `make site` (scripts/build_site.py) stages the sources
into a build folder (site/_build by default) and builds with `-c site`, so the paths below are relative
to this folder; it also passes html_extra_path, the staged videos and query clips."""

import os

project = "Semantic video search with Twelve Labs and Milvus"
html_title = "Semantic video search"
author = "the course's authors"
# githubpages writes .nojekyll: GitHub Pages would otherwise hide _static/ and _images/.
extensions = ["myst_nb", "sphinx.ext.githubpages"]
root_doc = "index"  # the README, staged as index.md

# The committed outputs are the page: nothing runs at build time (no kernel, no key, no network).
nb_execution_mode = "off"
# myst-nb would load the widget manager from a CDN; the site must work offline, and the
# notebooks keep no widget state to render anyway (the search panel gets a note instead).
nb_ipywidgets_js = {}
# Every other warning fails the build (-W). This one is about style, not a broken page: a page
# may go from its title straight to level-3 headings (a glossary's terms, say).
suppress_warnings = ["myst.header"]
# Headings get anchors, so each chapter's "Contents" link (README.md#the-chapters) resolves.
myst_heading_anchors = 3

html_theme = "sphinx_book_theme"
# A mode must be named: with none, the theme's script logs an error on every page. Light suits
# the outputs (white-backed figures and tables).
html_context = {"default_mode": "light"}
# An icon of our own; without one the browser asks for /favicon.ico and logs a 404.
html_favicon = "static/favicon.svg"
html_theme_options = {"show_toc_level": 2, "use_download_button": True}

# Launch buttons (Binder, Colab) and the repository link need the repository's public URL: one
# setting, off until it is set (`make site SITE_REPOSITORY_URL=https://github.com/you/course`).
# Binder builds from environment.yml at the repository's root.
REPOSITORY_URL = os.environ.get("SITE_REPOSITORY_URL", "").strip().rstrip("/")
if REPOSITORY_URL:
    html_theme_options |= {
        "repository_url": REPOSITORY_URL,
        "repository_branch": "main",
        "path_to_docs": "",  # chapters are staged at notebooks/, where they are in the repository
        "use_repository_button": True,
        "launch_buttons": {"binderhub_url": "https://mybinder.org",
                           "colab_url": "https://colab.research.google.com",
                           "notebook_interface": "jupyterlab"},
    }

"""Sphinx settings for the course book (``make book``); tools/book.py copies this next to the executed notebooks."""

project = "AIGC course: generative AI, built and trained for real"
author = "the aigc-course developers"
extensions = ["myst_nb", "sphinx-mathjax-offline"]   # MathJax served from the book itself: it reads offline
myst_enable_extensions = ["dollarmath", "amsmath"]
nb_execution_mode = "off"          # tools/book.py executed every notebook already; the book shows those outputs
nb_merge_streams = True            # one block per cell for printed text, not one per print()
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
html_theme = "sphinx_book_theme"
html_title = "AIGC course"
html_theme_options = {"show_toc_level": 2, "use_download_button": True}
suppress_warnings = ["myst.header"]   # chapters start at '#' and use '##' sections; lower levels may skip

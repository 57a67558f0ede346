"""MkDocs hooks of this site.

- Publish the committed figures and records with the site: ``results/`` and ``bench/results/``
  live beside the code (the commands that measure them write there); their ``.png`` and ``.json``
  files are added to the build under the same relative paths, so a page can show
  ``![...](results/mnist-robust.png)`` and link ``results/mnist.json`` without a copy under
  ``docs/`` that could go stale.
- Drop the Sphinx roles some docstrings use (``:func:`x```): mkdocstrings renders them as the text
  ``:func:`` before the code ``x``; the code is kept.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("results", "bench/results")
SUFFIXES = (".png", ".json")
_ROLE = re.compile(r":(?:func|class|meth|attr|data|mod|obj|exc):(?=<code>)")


def on_files(files: Files, config: Any) -> Files:
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).glob("*")):
            if path.suffix in SUFFIXES and path.is_file():
                uri = path.relative_to(ROOT).as_posix()
                if files.get_file_from_path(uri) is None:
                    files.append(
                        File(uri, str(ROOT), config["site_dir"], config["use_directory_urls"])
                    )
    return files


def on_page_content(html: str, **kwargs: Any) -> str:
    return _ROLE.sub("", html)

"""``sessionctl report``: a static HTML report of session files.

``model`` turns the files (``metadata-{id}.json`` and ``datastream-{id}.json``,
as ``replay`` or the bucket gives them) into a view model, with no I/O and no
HTML, so it is tested without a browser. ``render`` turns that view model into
one folder of pages with their CSS and JavaScript inline: it opens from disk,
with no server and no network. ``build`` ties the two to folders.
"""

from sessionctl.report.build import build_report, read_folder

__all__ = ["build_report", "read_folder"]

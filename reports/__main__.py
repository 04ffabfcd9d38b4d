"""``python -m reports`` is the ``gradproof`` command."""

from reports.cli import main

main()

"""``python -m specrec``: the ``specrec`` command, for environments where the script is not on PATH."""

from specrec.cli import main

main(prog_name="specrec")

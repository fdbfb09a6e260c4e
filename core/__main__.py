"""`python -m core` runs the `toolpark` command."""

from core.cli import main

main()

"""`python -m toolpark` runs the `toolpark` command."""

from toolpark.devtools.cli import main

main()

"""The plugin template that `toolpark plugin new` copies, and example plugins."""

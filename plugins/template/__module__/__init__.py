"""{{description}}

`plugin.py` declares the plugin (settings, state, lifespan), `tools.py` its tools, `command.py`
the command it adds to `toolpark`; domain code goes in modules named for what they do.
"""

from {{module}} import tools
from {{module}}.plugin import plugin

__all__ = ["plugin", "tools"]

"""`extract`: PDFs and images into text per page, tables, and page images.

Parsing runs in worker processes with timeouts and memory limits (`workers.py`); the parsing
functions (`pdf.py`) are a library the retrieval, s3 and web servers can call too.
"""

from toolpark.mcp_servers.extract import tools
from toolpark.mcp_servers.extract.plugin import plugin

__all__ = ["plugin", "tools"]

"""`s3`: browses and reads S3-compatible object storage within allowed buckets, prefixes and
each user's own folder; read-only unless writes are enabled.

Ranged reads fetch only the range asked for; images come back as image content; PDFs and
images are read through the host's out-of-process document parser (`ctx.documents`).
"""

from toolpark.mcp_servers.s3 import tools
from toolpark.mcp_servers.s3.plugin import plugin

__all__ = ["plugin", "tools"]

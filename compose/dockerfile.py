"""The Dockerfile of the toolpark image: one image, every enabled server, run as one service each."""

from __future__ import annotations

from toolpark.compose.spec import Deployment
from toolpark.host.loading import first_party_servers

__all__ = ["dockerfile"]


def dockerfile(spec: Deployment) -> str:
    # Each first-party server's libraries come with the extra of its name.
    servers = [name for name in first_party_servers() if name in spec.toolpark.servers]
    extras = ",".join([*servers, *(["gpu"] if spec.scheduled_node else [])])
    target = f".[{extras}]" if extras else "."
    return f"""\
# Rendered by toolpark compose. Build it from a toolpark checkout:
#   docker build -f toolpark/Dockerfile -t {spec.toolpark.image} /path/to/toolpark
FROM python:3.12-slim-bookworm

# Tesseract for the extract server's OCR.
RUN apt-get update \\
    && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng tesseract-ocr-deu \\
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/toolpark
COPY pyproject.toml setup.py README.md ./
COPY core ./core
COPY compose ./compose
COPY mcp_servers ./mcp_servers
COPY plugins ./plugins
# The CPU index keeps torch (retrieval's local embedder) from pulling a multi-GB CUDA build.
RUN pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu "{target}"

# /var/lib/toolpark holds the task ledger; a named volume mounted there takes this owner.
RUN useradd --create-home --uid 10001 toolpark && install -d -o toolpark /var/lib/toolpark
USER toolpark
ENV TOOLPARK_LOG_FORMAT=json
ENTRYPOINT ["toolpark"]
CMD ["serve", "--transport", "http", "--host", "0.0.0.0"]
"""

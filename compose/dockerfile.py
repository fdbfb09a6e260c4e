"""The Dockerfile of the toolpark image: one image, every enabled server, run as one service each."""

from __future__ import annotations

from toolpark.compose.spec import Deployment
from toolpark.host.loading import first_party_servers

__all__ = ["dockerfile"]


def dockerfile(spec: Deployment) -> str:
    # Each first-party server's libraries come with the extra of its name.
    servers = [name for name in first_party_servers() if name in spec.toolpark.servers]
    # Weights in S3: `toolpark models check` and the scheduler's compile-cache store use boto3 (s3).
    weights = ["s3"] if "s3" not in servers and any(m.weights for m in spec.models.by_role().values()) else []
    extras = ",".join([*servers, *(["gpu"] if spec.scheduled_node else []), *weights])
    target = f".[{extras}]" if extras else "."
    return f"""\
# Rendered by toolpark compose. `docker compose up --build` builds it when the spec names
# toolpark.source; by hand (to push it to a registry), from the rendered folder:
#   docker build --build-context source=/path/to/toolpark -t {spec.toolpark.image} toolpark/
FROM python:3.12-slim-bookworm

# Tesseract for the extract server's OCR.
RUN apt-get update \\
    && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng tesseract-ocr-deu \\
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/toolpark
# The code comes from the build context named "source": a checkout or a git URL.
COPY --from=source pyproject.toml setup.py README.md ./
COPY --from=source core ./core
COPY --from=source compose ./compose
COPY --from=source mcp_servers ./mcp_servers
COPY --from=source plugins ./plugins
# The CPU index keeps torch (retrieval's local embedder) from pulling a multi-GB CUDA build.
RUN pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu "{target}"

# /var/lib/toolpark holds the task ledger; a named volume mounted there takes this owner.
RUN useradd --create-home --uid 10001 toolpark && install -d -o toolpark /var/lib/toolpark
USER toolpark
ENV TOOLPARK_LOG_FORMAT=json
ENTRYPOINT ["toolpark"]
CMD ["serve", "--transport", "http", "--host", "0.0.0.0"]
"""

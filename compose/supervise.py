"""`python -m toolpark.compose.supervise CONFIG`: supervisord, run so that each program gets only
the secrets its own definition names.

supervisord hands every program a copy of its own environment, so a supervisord started with the
deployment's .env in its environment gave every program (Caddy, Open WebUI, each server) every
secret. Here the .env never enters the environment: its values are given to supervisord only as
the expansions of the config's `%(ENV_...)s` references, which name, per program, what its
definition asks for. The environment itself is the caller's, cut to what `clean_environment`
lets through.
"""

from __future__ import annotations

import fnmatch
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from toolpark.compose.files import read_env
from toolpark.compose.render import ENV_FILE

__all__ = ["clean_environment", "main", "supervisord_command", "supervisord_environment"]

# What programs may take from the environment they are started in: the system's basics, and the
# engines' own tuning and offline switches (vLLM's, Hugging Face's, the BLAS and OpenMP threads,
# the GPUs), proxies and CA bundles. Never a name the .env holds, whatever the pattern.
PASSED = (
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "LC_*", "TZ", "TMPDIR", "TERM",
    "HF_*", "VLLM_*", "OPENBLAS_*", "OMP_*", "MKL_*", "CUDA_*", "NVIDIA_*",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "AWS_CA_BUNDLE", "OTEL_*",
)  # fmt: skip


def clean_environment(environ: Mapping[str, str], secrets: Mapping[str, str]) -> dict[str, str]:
    """`environ` cut to the names PASSED lets through, less every name the .env (`secrets`) holds."""
    return {
        name: value
        for name, value in environ.items()
        if name not in secrets and any(fnmatch.fnmatchcase(name, pattern) for pattern in PASSED)
    }


def supervisord_environment(folder: Path) -> dict[str, str]:
    """What supervisord, and so every program, runs with: this environment cut to what
    `clean_environment` lets through (no secret: the .env reaches the config's references only,
    in `toolpark.compose.supervise`), and this installation's programs first on the PATH."""
    env = clean_environment(os.environ, read_env(folder / ENV_FILE))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def supervisord_command(folder: Path, config: str) -> list[str]:
    """supervisord in the foreground with `config` of the rendered `folder`, whose log, socket
    and data folders it is given."""
    for sub in ("logs", "run", "data"):
        (folder / sub).mkdir(exist_ok=True)
    return [sys.executable, "-m", "toolpark.compose.supervise", str(folder / config)]


def main(argv: list[str] | None = None) -> None:
    from supervisor.options import ServerOptions
    from supervisor.supervisord import go

    (config,) = argv if argv is not None else sys.argv[1:]
    options = ServerOptions()
    # Before the config is read: its %(ENV_NAME)s references expand to the .env beside it.
    secrets = read_env(Path(config).parent / ENV_FILE)
    options.environ_expansions |= {f"ENV_{name}": value for name, value in secrets.items()}
    options.realize(["-c", config])
    options.first, options.test = True, False
    # No restart on SIGHUP (supervisord's own main loop reads the config again, without the .env):
    # `toolpark compose up` stops and starts the stack whole.
    go(options)
    options.close_httpservers()
    options.close_logger()


if __name__ == "__main__":
    main()

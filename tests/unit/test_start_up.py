"""What the server loads at start-up: every MiB imported is held by each replica for its whole life."""

import subprocess
import sys
from pathlib import Path

# Loaded when first used: migrating (alembic, mako), MCP calls, Web Push (cryptography, py_vapid, pywebpush).
LOADED_ON_FIRST_USE = {"alembic", "mako", "mcp", "cryptography", "py_vapid", "pywebpush"}


def test_the_app_is_built_without_what_only_some_callers_use(tmp_path: Path) -> None:
    check = (
        "import sys; from openhitl.app import create_app; from openhitl.config import Settings; "
        f"create_app(Settings(data_dir={str(tmp_path)!r}, secret_key='unused')); "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(LOADED_ON_FIRST_USE)!r})))"
    )
    loaded = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert (loaded.returncode, loaded.stdout) == (0, "[]\n"), loaded.stderr

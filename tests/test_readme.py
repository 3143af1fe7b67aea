"""The README documents every environment variable the settings read."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_lists_every_environment_variable_read_by_settings():
    # given every name read with env(...), env.int(...), env.db(...) etc. in the settings
    source = "\n".join(p.read_text() for p in (ROOT / "scrm" / "settings").glob("*.py"))
    names = set(re.findall(r"""\benv(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]*)["']""", source))
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"} <= names

    # then each is a row of the README's configuration table
    readme = (ROOT / "README.md").read_text()
    table_rows = [line for line in readme.splitlines() if line.startswith("| `")]
    documented = {name for row in table_rows for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", row)}
    assert names - documented == set(), "add these to the README's configuration table"

"""``make migrate``: apply pending migrations to the database at ``DATABASE_URL``, with the runner
the deployed migrations function uses (functions/migrations/schema_migrations.py).

Usage: ``python -m qai_tools.migrate``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "functions" / "migrations"))

from schema_migrations import AdoptionError, migrate

__all__ = ["AdoptionError", "main", "migrate"]


def main() -> int:
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        print("DATABASE_URL is not set", file=sys.stderr)
        return 2
    applied = migrate(database_url)
    print(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

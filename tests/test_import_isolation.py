"""The API functions stay lean: they never load the agent's SDKs (nor boto3 until they enqueue)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize("function", ["projects", "messages", "git", "sites"])
def test_api_function_imports_no_agent_sdk(function: str) -> None:
    code = (
        f"import sys; sys.path[:0] = ['functions/{function}', 'layers/shared/python']; import app; "
        "print(sorted(m for m in ('anthropic', 'e2b', 'boto3', 'qai_agent') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_sites_not_found_function_loads_no_database_nor_sdk_until_it_answers() -> None:
    """CloudFront waits on its cold start: it imports neither the database driver nor the API's
    resolver, and boto3 only on its first request."""
    code = (
        "import sys; sys.path[:0] = ['functions/sites_not_found', 'layers/shared/python']; import app; "
        "print(sorted(m for m in ('anthropic', 'e2b', 'boto3', 'qai_agent', 'psycopg', 'qai.api') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_lambda_code_holds_no_local_sandbox() -> None:
    """The local sandbox lives in qai_local/, outside every Lambda package."""
    lambda_sources = [*ROOT.glob("functions/**/*.py"), *ROOT.glob("layers/**/*.py")]
    assert lambda_sources
    offending = [str(path.relative_to(ROOT)) for path in lambda_sources if "bwrap" in path.read_text()]
    assert offending == []
    assert not (ROOT / "functions/agent/qai_agent/sandboxes/local").exists()

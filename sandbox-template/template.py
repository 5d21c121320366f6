"""The E2B sandbox template: the app template of ``functions/agent/qai_agent/app_template`` (the same
files and lockfile as the local sandbox), plus every shadcn/ui component, with ``next dev`` running
from the start.

The agent (functions/agent/qai_agent/sandboxes/e2b.py) relies on what is built here: the app in
/home/user and `next dev` listening on PREVIEW_PORT as soon as the sandbox starts. E2B's builder
reaches the shadcn registry website, which our own machines cannot: that is the one addition.
Build and publish it with `make e2b-template` (needs E2B_API_KEY).
"""

from __future__ import annotations

import sys
from pathlib import Path

from e2b import Template, TemplateClass, wait_for_url

NAME = "qai-nextjs"
PREVIEW_PORT = 3000
APP_DIR = "/home/user"
SHADCN_VERSION = "4.23.0"
APP_TEMPLATE = Path(__file__).resolve().parent.parent / "functions" / "agent" / "qai_agent" / "app_template"


def qai_template() -> TemplateClass:
    return (
        Template(file_context_path=APP_TEMPLATE)
        .from_node_image("20-slim")
        .apt_install(["curl", "git"])
        .set_workdir(APP_DIR)
        .copy(".", f"{APP_DIR}/", user="user")
        .run_cmd("npm ci --no-audit --no-fund", user="user")
        .run_cmd(f"npx --yes shadcn@{SHADCN_VERSION} add --all --yes --overwrite", user="user")
        .set_envs({"NEXT_TELEMETRY_DISABLED": "1"})
        .set_start_cmd(
            f"npx next dev --turbopack -H 0.0.0.0 -p {PREVIEW_PORT}",
            wait_for_url(f"http://localhost:{PREVIEW_PORT}", 200),
        )
    )


def main() -> int:
    """Build and publish the template on E2B (reads E2B_API_KEY)."""
    info = Template.build(qai_template(), NAME, cpu_count=2, memory_mb=2048, on_build_logs=print)
    print(f"built {NAME}: {info}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

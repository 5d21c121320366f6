"""The E2B sandbox template: the app template of ``layers/shared/python/qai/app_template`` (the same
files and lockfile as the local sandbox), plus every shadcn/ui component, with ``next dev`` running
from the start.

The agent (functions/agent/qai_agent/sandboxes/e2b.py) relies on what is built here: the app in
/home/user, `next dev` listening on PREVIEW_PORT as soon as the sandbox starts with its output in
DEV_SERVER_LOG, and the checksums of the app template's files in TEMPLATE_MANIFEST, taken before the
shadcn components are added, so that a fragment holds what differs from the app template that the
download and the local sandbox start from. E2B's builder
reaches the shadcn registry website, which our own machines cannot: that is the one addition.
Build and publish it with `make e2b-template` (needs E2B_API_KEY).
"""

from __future__ import annotations

import sys
from pathlib import Path

from e2b import Template, TemplateClass, wait_for_url

from qai.app_files import TEMPLATE_DIR
from qai_agent.sandboxes.e2b import (
    DEV_SERVER_LOG,
    PREVIEW_PORT,
    TEMPLATE_MANIFEST,
    VM_STATE_DIR,
    file_listing_command,
)
from qai_agent.sandboxes.e2b import WORKDIR as APP_DIR

NAME = "qai-nextjs"
SHADCN_VERSION = "4.23.0"
APP_TEMPLATE = TEMPLATE_DIR


def qai_template() -> TemplateClass:
    return (
        Template(file_context_path=APP_TEMPLATE)
        .from_node_image("20-slim")
        .apt_install(["curl", "git"])
        .set_workdir(APP_DIR)
        .copy(".", f"{APP_DIR}/", user="user")
        .run_cmd("npm ci --no-audit --no-fund", user="user")
        .run_cmd(
            f"mkdir -p {Path(TEMPLATE_MANIFEST).parent} && cd {APP_DIR} "
            f"&& {file_listing_command()} > {TEMPLATE_MANIFEST}",
            user="root",
        )
        .run_cmd(f"mkdir -p {VM_STATE_DIR}", user="user")
        .run_cmd(f"npx --yes shadcn@{SHADCN_VERSION} add --all --yes --overwrite", user="user")
        .set_envs({"NEXT_TELEMETRY_DISABLED": "1"})
        .set_start_cmd(
            f"QAI_PREVIEW=1 npx next dev -H 0.0.0.0 -p {PREVIEW_PORT} >> {DEV_SERVER_LOG} 2>&1",
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

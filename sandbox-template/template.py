"""The E2B sandbox template: a Next.js + Tailwind + shadcn/ui app whose dev server runs from the start.

The agent (functions/agent/qai_agent/sandboxes/e2b.py) relies on what is built here: the app in
/home/user, every shadcn/ui component installed, and `next dev` listening on PREVIEW_PORT as soon
as the sandbox starts. Build and publish it with `make e2b-template` (needs E2B_API_KEY).
"""

from __future__ import annotations

import sys

from e2b import Template, TemplateClass, wait_for_url

NAME = "qai-nextjs"
PREVIEW_PORT = 3000
APP_DIR = "/home/user"
NEXT_VERSION = "15.5.28"
SHADCN_VERSION = "2.9.3"


def qai_template() -> TemplateClass:
    return (
        Template()
        .from_node_image("22-slim")
        .apt_install(["curl", "git"])
        .set_workdir("/home/user/nextjs-app")
        .run_cmd(
            f"npx --yes create-next-app@{NEXT_VERSION} . --ts --tailwind --eslint --app --no-src-dir"
            " --import-alias '@/*' --use-npm --yes --turbopack"
        )
        .run_cmd(f"npx --yes shadcn@{SHADCN_VERSION} init --yes --base-color neutral --force")
        .run_cmd(f"npx --yes shadcn@{SHADCN_VERSION} add --all --yes --overwrite")
        # The agent works in /home/user: move the app there with its hidden files.
        .run_cmd(f"cp -a /home/user/nextjs-app/. {APP_DIR}/ && rm -rf /home/user/nextjs-app")
        .set_workdir(APP_DIR)
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

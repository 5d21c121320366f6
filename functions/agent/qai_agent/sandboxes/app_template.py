"""What the model is told about the app template both providers start from (``qai/app_template/``):
the packages its package.json installs, nothing more."""

from __future__ import annotations

from qai.app_files import template_packages


def stack_paragraph(workdir: str, *, components: str, network: str) -> str:
    """The part of the system prompt that says what the app is built on; the same for both providers."""
    packages = template_packages()
    listing = ", ".join(f"{name}@{version}" for name, version in sorted(packages.items()))
    return (
        f"The app is a Next.js {packages['next']} app (App Router, TypeScript, React {packages['react']}) in "
        f"{workdir}, styled with Tailwind CSS {packages['tailwindcss']} (v4: the theme lives in app/globals.css; "
        "there is no tailwind.config). The main page is app/page.tsx; app/layout.tsx sets the Geist fonts from "
        "the geist package, and lib/utils.ts exports cn() for class names. "
        f"Installed packages (package.json): {listing}. {components} "
        "Icons come from lucide-react. Mark components that use state, effects or event handlers with "
        "'use client' at the top of the file. "
        f"Next.js {packages['next'].split('.')[0]}: `params` and `searchParams` are Promises (a page is "
        "`async function Page({ params }: { params: Promise<{ id: string }> })` and awaits them), and so are "
        "`cookies()`, `headers()` and `draftMode()`; what was middleware.ts is proxy.ts exporting `proxy`; "
        "Turbopack bundles both dev and build. Its documentation is in node_modules/next/dist/docs/. "
        "The dev server is already running with hot reload and serves the preview: never start, stop or "
        "restart it, and never run `npm run dev`, `next dev`, `next start`, `npm run build` or `next build`. "
        f"{network} File paths given to the tools are relative to the app directory (for example "
        "app/page.tsx), never absolute and never with '@' in them."
    )

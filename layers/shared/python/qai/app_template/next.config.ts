import type { NextConfig } from "next";

// A publish builds a static export (to out/) under the site's path: QAI_EXPORT=1, QAI_BASE_PATH=/<site>.
// next dev keeps its files in .next/dev, so a dev server running beside the build is not disturbed.
const exporting = process.env.QAI_EXPORT === "1";
// QAI's preview (QAI_PREVIEW=1, next dev only) marks each JSX element with where it is written, for
// its "Select" tool (qai-source-loader.cjs); builds, downloads and published sites carry no marks.
const marking = process.env.QAI_PREVIEW === "1" && process.env.NODE_ENV !== "production";

const nextConfig: NextConfig = {
  // The preview is opened through a proxy on another origin than the dev server's own.
  allowedDevOrigins: ["127.0.0.1", "localhost", "*.e2b.app", "*.e2b.dev"],
  // next dev would write AGENTS.md into every app; the agent's own prompt says what it needs.
  agentRules: false,
  experimental: {
    agentUpgrade: false,
    // Webpack loaders (Select's marks) and PostCSS (Tailwind) run in threads of the server, not in
    // a Node process each: the dev server's tree holds about 100 MB less. Next.js keeps its child
    // processes on the Node.js versions where worker threads can abort it at exit.
    turbopackPluginRuntimeStrategy: "workerThreads",
  },
  ...(marking && {
    turbopack: {
      rules: {
        "*.{jsx,tsx}": {
          condition: { all: ["development", { not: "foreign" }] },
          loaders: ["./qai-source-loader.cjs"],
        },
      },
    },
  }),
  ...(exporting && {
    output: "export",
    basePath: process.env.QAI_BASE_PATH || undefined,
    trailingSlash: true,
    images: { unoptimized: true },
  }),
};

export default nextConfig;

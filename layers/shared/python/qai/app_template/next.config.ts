import type { NextConfig } from "next";

// A publish builds a static export (to out/) under the site's path: QAI_EXPORT=1, QAI_BASE_PATH=/<site>.
// next dev keeps its files in .next/dev, so a dev server running beside the build is not disturbed.
const exporting = process.env.QAI_EXPORT === "1";

const nextConfig: NextConfig = {
  // The preview is opened through a proxy on another origin than the dev server's own.
  allowedDevOrigins: ["127.0.0.1", "localhost", "*.e2b.app", "*.e2b.dev"],
  // next dev would write AGENTS.md into every app; the agent's own prompt says what it needs.
  agentRules: false,
  experimental: { agentUpgrade: false },
  ...(exporting && {
    output: "export",
    basePath: process.env.QAI_BASE_PATH || undefined,
    trailingSlash: true,
    images: { unoptimized: true },
  }),
};

export default nextConfig;

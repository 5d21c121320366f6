import type { NextConfig } from "next";

const nextConfig: NextConfig = {
  // The preview is opened through a proxy on another origin than the dev server's own.
  allowedDevOrigins: ["127.0.0.1", "localhost", "*.e2b.app", "*.e2b.dev"],
  // next dev would write AGENTS.md into every app; the agent's own prompt says what it needs.
  agentRules: false,
  experimental: { agentUpgrade: false },
};

export default nextConfig;

/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig, searchForWorkspaceRoot } from "vite";

// `npm run dev` serves the client on port 5173 with hot reload, in front of the local stack (make dev).
const localStack = process.env.QAI_API_URL ?? "http://127.0.0.1:8787";

export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", sourcemap: true, chunkSizeWarningLimit: 1200 },
  server: {
    port: 5173,
    // The stack answers only its own Host (127.0.0.1:<port>): the proxy sends that one.
    proxy: Object.fromEntries(
      ["/projects", "/usage", "/config.json", "/local"].map((path) => [path, { target: localStack, changeOrigin: true }]),
    ),
    // The client reads values from the API's OpenAPI document, one folder up (src/prompt.ts).
    fs: { allow: [searchForWorkspaceRoot(process.cwd()), "../openapi.json"] },
  },
  // npm test: unit tests of the client's own logic (src/**/*.test.ts), in Node: none needs a DOM.
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});

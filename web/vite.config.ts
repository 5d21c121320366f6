import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// `npm run dev` serves the client on its own port against the local stack's API.
export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", sourcemap: true, chunkSizeWarningLimit: 1200 },
});

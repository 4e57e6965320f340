import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The dev server and `vite preview` forward API calls to a locally running backend, the way
// nginx does in the image. Override the target with QGO_API_TARGET.
const apiTarget = process.env.QGO_API_TARGET ?? "http://127.0.0.1:5000";
const proxy = {
  "/api": { target: apiTarget, changeOrigin: false },
  "/health": { target: apiTarget, changeOrigin: false },
};

export default defineConfig({
  plugins: [react()],
  server: { host: "127.0.0.1", port: 5173, strictPort: true, proxy },
  preview: { host: "127.0.0.1", port: 4173, strictPort: true, proxy },
  build: { outDir: "dist", assetsDir: "assets" },
});

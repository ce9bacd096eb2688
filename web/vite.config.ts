// Builds the web chat (plain TypeScript + DOM) into web/dist, served by the API at `/`.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/',
  resolve: { alias: { '@fechatter/sdk': fileURLToPath(new URL('../sdk/src/index.ts', import.meta.url)) } },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', sourcemap: false },
  server: { proxy: { '/api': { target: 'http://127.0.0.1:8080', ws: true }, '/admin': 'http://127.0.0.1:8080' } },
});

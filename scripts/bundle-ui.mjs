// Builds the NOC web page into dist/noc/ui/ (served by noc/server.ts): app.js (noc/ui/main.ts and
// uPlot, one minified ES module), app.css (the page's styles with uPlot's CSS inlined) and
// index.html. Everything the page needs is in that folder: no CDN, no web fonts, since NOCs and
// stores are often cut off from the internet. Type-check first: `tsc -p noc/ui/tsconfig.json
// --noEmit` (`npm run build` does both).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = `${root}noc/ui`;
const outdir = `${root}dist/noc/ui`;
rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });
await build({
  entryPoints: { app: `${src}/main.ts` },
  outdir,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome110', 'firefox110', 'safari16'],
  minify: true,
  sourcemap: true,
  legalComments: 'linked',
  logLevel: 'warning',
});
await build({
  entryPoints: { app: `${src}/app.css` },
  outdir,
  bundle: true,
  minify: true,
  logLevel: 'warning',
});
copyFileSync(`${src}/index.html`, `${outdir}/index.html`);
console.log(`NOC web page: ${outdir}/`);

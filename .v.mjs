import { build } from 'esbuild'
await build({ entryPoints: ['scripts/weft-routes.ts'], bundle: true, platform: 'node', target: 'node20', format: 'cjs', minify: false, outfile: '/tmp/mb/wr.cjs', define: { 'import.meta.url': 'undefined' }, logLevel: 'error' })

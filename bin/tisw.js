#!/usr/bin/env node
// The operator's command line. The TypeScript is compiled by `npm install` (prepare) or `npm run build`.
const path = require('node:path');
const fs = require('node:fs');

const cli = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
if (!fs.existsSync(cli)) {
  console.error('tisw: not built yet; run `npm install` (or `npm run build`) in ' + path.dirname(__dirname));
  process.exit(1);
}
require(cli).main(process.argv);

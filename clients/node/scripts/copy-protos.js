'use strict';
// prepack: copies the contract (protos/orchestrator/v1/*.proto of this repository) into the
// package, so the published package loads its own copy and needs no checkout beside it.
const fs = require('node:fs');
const path = require('node:path');

const source = path.resolve(__dirname, '../../../protos/orchestrator/v1');
const target = path.resolve(__dirname, '../protos/orchestrator/v1');
if (!fs.existsSync(source)) {
  console.error(`copy-protos: ${source} not found (run this from a checkout of the repository)`);
  process.exit(1);
}
fs.rmSync(path.dirname(target), { recursive: true, force: true });
fs.mkdirSync(target, { recursive: true });
for (const name of fs.readdirSync(source).filter((n) => n.endsWith('.proto')).sort()) {
  fs.copyFileSync(path.join(source, name), path.join(target, name));
}

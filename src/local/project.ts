import fs from 'node:fs';
import path from 'node:path';

/** The checkout's root (the folder with tis-workflows' package.json), from src/ or from dist/src/. */
export const PROJECT_ROOT: string = (() => {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === 'tis-workflows') return dir;
  }
  throw new Error(`cannot find tis-workflows' package.json above ${__dirname}`);
})();

// The package version, read from package.json wherever this file runs from (src/ or dist/src/).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageJson(dir: string): string {
  const candidate = path.join(dir, 'package.json');
  if (existsSync(candidate)) return candidate;
  const parent = path.dirname(dir);
  if (parent === dir) throw new Error('package.json not found');
  return findPackageJson(parent);
}

export const packageRoot = path.dirname(findPackageJson(path.dirname(fileURLToPath(import.meta.url))));
export const version = (JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;

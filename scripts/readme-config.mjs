// Rewrites the settings table in README.md from the one declaration (src/config/config.ts).
// Run after `npm run build`: node scripts/readme-config.mjs
import { readFileSync, writeFileSync } from 'node:fs';
import { configReference } from '../dist/src/config/config.js';

const readme = readFileSync('README.md', 'utf8');
const start = readme.indexOf('| key | default | meaning |');
const end = readme.indexOf('\n\n', start);
if (start < 0 || end < 0) throw new Error('README.md has no settings table');
writeFileSync('README.md', readme.slice(0, start) + configReference() + readme.slice(end));

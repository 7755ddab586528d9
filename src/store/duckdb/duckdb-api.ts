// DuckDB's Node packages, loaded with require(): they are CommonJS, and importing them as ES
// modules makes Node lex every one of node-api's 124 files for named exports first — measured
// 101 ms against 50 ms, a third of a `flowwatch query` run. Types still come from the packages.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export const api = require('@duckdb/node-api') as typeof import('@duckdb/node-api');
export const bindings = require('@duckdb/node-bindings') as typeof import('@duckdb/node-bindings');

import type { parse as Parse, stringify as Stringify } from 'smol-toml' with { 'resolution-mode': 'import' };

// smol-toml ships CommonJS for require() but only ESM typings, which TypeScript refuses to import
// from a CommonJS module: take the types from the ESM side and the code from the CommonJS build.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const toml = require('smol-toml') as { parse: typeof Parse; stringify: typeof Stringify };

/** Serialises plain data as TOML. */
export const stringifyToml: typeof Stringify = toml.stringify;
/** Parses TOML text into plain data. */
export const parseToml: typeof Parse = toml.parse;

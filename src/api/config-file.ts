/**
 * Reading a config file from disk: JSON or YAML text -> validated `PvmConfig`, with
 * relative paths (kernel, initrd, firmware, disks, console files) resolved against the
 * file's directory.
 */
import { readFile } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { PvmError } from '../core/errors.js';
import { type PvmConfig, validateConfig } from './config.js';
import { resolveSpecPaths } from './spec.js';

export interface ParseOptions {
  /** Name for messages (the file name). */
  source?: string;
  /** "json" or "yaml"; default: guessed from `source`, else YAML (a superset of JSON). */
  format?: 'json' | 'yaml';
}

/** Parses JSON or YAML text; syntax errors are PvmError('usage') with the line. */
export function parseConfigText(text: string, opts: ParseOptions = {}): PvmConfig {
  const source = opts.source ?? 'config';
  const format = opts.format ?? (extname(source).toLowerCase() === '.json' ? 'json' : 'yaml');
  let doc: unknown;
  if (format === 'json') {
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new PvmError('usage', `${source}: not valid JSON: ${(e as Error).message}`);
    }
  } else {
    const y = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
    if (y.errors.length > 0) {
      const e = y.errors[0]!;
      const where = e.linePos?.[0] ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}: ` : '';
      throw new PvmError('usage', `${source}: not valid YAML: ${where}${e.message.split('\n')[0]}`);
    }
    doc = y.toJS();
  }
  return validateConfig(doc, source);
}

/** Resolves every relative host path in `cfg` against `baseDir` (returns a new object). */
export function resolveConfigPaths(cfg: PvmConfig, baseDir: string): PvmConfig {
  return { ...cfg, domains: cfg.domains.map((d) => resolveSpecPaths(d, baseDir)) };
}

/** Reads, parses and validates a config file; paths come back absolute. */
export async function loadConfigFile(path: string): Promise<PvmConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new PvmError('io', `cannot read config ${path}: ${code === 'ENOENT' ? 'no such file' : (code ?? String(e))}`);
  }
  const cfg = parseConfigText(text, { source: path });
  return resolveConfigPaths(cfg, dirname(resolve(path)));
}

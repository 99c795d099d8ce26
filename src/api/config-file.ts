/**
 * Reading a config file from disk: JSON or YAML text -> validated `PvmConfig`, with
 * relative paths (kernel, initrd, firmware, disks, console files) resolved against the
 * file's directory.
 */
import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
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
    try {
      // yaml refuses documents whose aliases expand beyond maxAliasCount (a "billion laughs").
      doc = y.toJS({ maxAliasCount: 100 });
    } catch (e) {
      throw new PvmError('usage', `${source}: YAML refused: ${(e as Error).message}`);
    }
  }
  return validateConfig(doc, source);
}

/** Resolves every relative host path in `cfg` against `baseDir` (returns a new object). */
export function resolveConfigPaths(cfg: PvmConfig, baseDir: string): PvmConfig {
  return { ...cfg, domains: cfg.domains.map((d) => resolveSpecPaths(d, baseDir)) };
}

/** Largest config file read (a config is a few hundred bytes per domain). */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * Reads, parses and validates a config file; paths come back absolute. The file must be a
 * regular file of at most MAX_CONFIG_BYTES (opened O_NONBLOCK: a FIFO is refused, not waited on).
 */
export async function loadConfigFile(path: string): Promise<PvmConfig> {
  let text: string;
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const st = await fh.stat();
    if (!st.isFile()) throw new PvmError('io', `cannot read config ${path}: not a regular file`);
    if (st.size > MAX_CONFIG_BYTES) {
      throw new PvmError('usage', `config ${path} is ${st.size} bytes, more than ${MAX_CONFIG_BYTES}`);
    }
    text = await fh.readFile('utf8');
  } catch (e) {
    if (e instanceof PvmError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new PvmError('io', `cannot read config ${path}: ${code === 'ENOENT' ? 'no such file' : (code ?? String(e))}`);
  } finally {
    await fh?.close();
  }
  const cfg = parseConfigText(text, { source: path });
  return resolveConfigPaths(cfg, dirname(resolve(path)));
}

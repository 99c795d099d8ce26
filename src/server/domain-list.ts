/**
 * The daemon's domain list on disk: after every change, the configs of its domains are written
 * to `domains.yaml` in its state directory (a pvm config file, each domain's state and start
 * time in a comment above it). When a daemon starts and finds the file of a previous run, it
 * keeps it as `domains.previous.yaml` and logs what it held; `pvm create FILE` starts those
 * domains again (docs/control-plane.md, "After a restart").
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { ControlPlane } from '../api/control.js';
import type { DomainInfo } from '../api/domain.js';
import type { Logger } from '../host/logger.js';

export const DOMAIN_LIST_FILE = 'domains.yaml';
export const PREVIOUS_DOMAIN_LIST_FILE = 'domains.previous.yaml';

/** A domain's entry in the list, with the key that says when it must be written again. */
interface Entry {
  readonly key: string;
  readonly text: string;
}

/**
 * The domain list as a config file's text: one commented entry per domain. `cache` (id ->
 * entry) keeps the entries of domains that did not change since the last call: the list is
 * written after every change, and turning a config into YAML costs far more than comparing
 * it as JSON, so a daemon creating its thousandth domain does not stringify the other 999.
 */
export function domainListText(
  domains: readonly DomainInfo[],
  now = new Date(),
  cache: Map<number, Entry> = new Map(),
): string {
  const parts = [
    `# The domains of a pvm daemon at ${now.toISOString()}; \`pvm create THIS-FILE\` creates them again.\ndomains:\n`,
  ];
  const seen = new Set<number>();
  for (const d of domains) {
    seen.add(d.id);
    const head = `  # ${d.name}: ${d.state} (id ${d.id}, started ${d.startedAt})\n`;
    const key = `${head}${JSON.stringify(d.config)}`;
    let e = cache.get(d.id);
    if (e?.key !== key) {
      const entry = stringify([d.config], { lineWidth: 0 }).trimEnd().split('\n');
      e = { key, text: `${head}${entry.map((l) => `  ${l}\n`).join('')}` };
      cache.set(d.id, e);
    }
    parts.push(e.text);
  }
  for (const id of cache.keys()) if (!seen.has(id)) cache.delete(id);
  return parts.join('');
}

/**
 * Keeps `dir/domains.yaml` up to date with the domains of `control` (written atomically, after
 * each state change or removal); returns a function that stops it. A list left by a previous
 * daemon becomes `domains.previous.yaml` and is logged domain by domain.
 */
export function persistDomainList(control: ControlPlane, dir: string, logger: Logger): () => void {
  const file = join(dir, DOMAIN_LIST_FILE);
  const previous = join(dir, PREVIOUS_DOMAIN_LIST_FILE);
  if (existsSync(file)) {
    try {
      renameSync(file, previous);
      const names = [...readFileSync(previous, 'utf8').matchAll(/^ {2}# ([^:]+): (\S+)/gm)].map(
        (m) => `${m[1]} (${m[2]})`,
      );
      logger.warn(
        { file: previous, domains: names },
        `the previous daemon left ${names.length} domains: pvm create ${previous} starts them again`,
      );
    } catch (e) {
      logger.warn({ file, err: e }, 'cannot keep the previous domain list');
    }
  }
  let pending = false;
  let stopped = false;
  const entries = new Map<number, Entry>();
  const write = (): void => {
    pending = false;
    if (stopped) return;
    const domains = control.domains.list().map((d) => control.domains.info(d.id));
    try {
      if (domains.length === 0) rmSync(file, { force: true });
      else {
        const tmp = `${file}.partial-${process.pid}`;
        writeFileSync(tmp, domainListText(domains, new Date(), entries), { mode: 0o600 });
        renameSync(tmp, file);
      }
    } catch (e) {
      logger.warn({ file, err: e }, 'cannot write the domain list');
    }
  };
  const unsubscribe = control.domains.subscribe(() => {
    if (pending) return;
    pending = true;
    queueMicrotask(write);
  });
  return () => {
    stopped = true;
    unsubscribe();
  };
}

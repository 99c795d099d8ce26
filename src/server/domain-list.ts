/**
 * The daemon's domain list on disk: after every change, the configs of its domains are written
 * to `domains.yaml` in its state directory (a pvm config file, each domain's state and start
 * time in a comment above it). When a daemon starts and finds the file of a previous run, it
 * keeps it as `domains.previous.yaml` and logs what it held; `pvm create FILE` starts those
 * domains again (docs/control-plane.md, "After a restart").
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { stringify } from 'yaml';
import type { ControlPlane } from '../api/control.js';
import type { DomainInfo } from '../api/domain.js';
import type { Logger } from '../host/logger.js';

export const DOMAIN_LIST_FILE = 'domains.yaml';
export const PREVIOUS_DOMAIN_LIST_FILE = 'domains.previous.yaml';
/** A write of the list waits this many times the last write's duration after it (persistDomainList). */
export const WRITE_SPACING = 10;

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
 * each state change, removal or config change); returns a function that stops it, writing a
 * change still waiting first. A list left by a previous daemon becomes `domains.previous.yaml`
 * and is logged domain by domain.
 *
 * The info of each domain is kept between writes and asked again only of the domains an event
 * or a config change named (or whose listed state or name differs): asking every domain at
 * every event made creating N domains cost N² infos, each a structured clone when the domain
 * runs on a worker thread. A write of the whole file follows at most one in
 * `WRITE_SPACING` of the last write's own time later, so that writing a long list takes a
 * bounded share of the main thread however fast domains change.
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
  let timer: ReturnType<typeof setTimeout> | null = null;
  /** When the next write may start (performance.now()). */
  let notBefore = 0;
  const entries = new Map<number, Entry>();
  const infos = new Map<number, DomainInfo>();
  /** Domains whose info may have changed since it was kept. */
  const stale = new Set<number>();
  const write = (): void => {
    pending = false;
    timer = null;
    const t0 = performance.now();
    const domains: DomainInfo[] = [];
    for (const h of control.domains.list()) {
      let info = infos.get(h.id);
      if (info === undefined || stale.has(h.id) || info.state !== h.state || info.name !== h.name) {
        try {
          info = control.domains.info(h.id);
        } catch {
          continue; // still being built on its worker: its first event writes it
        }
        infos.set(h.id, info);
      }
      domains.push(info);
    }
    stale.clear();
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
    const t1 = performance.now();
    notBefore = t1 + WRITE_SPACING * (t1 - t0);
  };
  const changed = (id: number, removed = false): void => {
    if (removed) {
      infos.delete(id);
      stale.delete(id);
    } else stale.add(id);
    if (pending || stopped) return;
    pending = true;
    const wait = notBefore - performance.now();
    if (wait <= 0) {
      queueMicrotask(() => {
        if (pending && !stopped) write();
      });
    } else {
      timer = setTimeout(write, wait);
      timer.unref();
    }
  };
  const unsubscribe = control.domains.subscribe((e) => changed(e.id, e.type === 'removed'));
  const unwatch = control.onConfigChange((id) => changed(id));
  return () => {
    if (stopped) return;
    stopped = true;
    unsubscribe();
    unwatch();
    if (timer !== null) clearTimeout(timer);
    if (pending) write();
  };
}

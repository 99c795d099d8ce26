import logUpdate from 'log-update';
import type { DomainStats } from '../../api/domain.js';
import type { PvmClient } from '../client.js';
import { formatBytes, formatCount, formatDuration, table } from './format.js';

/** One row of `pvm top`: rates over the last interval. */
export interface TopRow {
  readonly id: number;
  readonly name: string;
  readonly state: string;
  /** Share of one host CPU spent on this domain (guest + hypervisor time), percent. */
  readonly cpuPercent: number;
  readonly mips: number;
  readonly exitsPerSecond: number;
  /** Bytes per second the guest's NICs received from their switches and sent into them, all NICs. */
  readonly netRxBytesPerSecond: number;
  readonly netTxBytesPerSecond: number;
  readonly memoryBytes: number;
  readonly vcpus: number;
  readonly uptimeMs: number;
}

const totalExits = (s: DomainStats): number => Object.values(s.exits).reduce((a, b) => a + b, 0);
const netBytes = (s: DomainStats, way: 'rxBytes' | 'txBytes'): number => (s.nets ?? []).reduce((a, n) => a + n[way], 0);
/** Counters that only grow, as a rate; 0 without a previous sample (or after a reset). */
const rate = (now: number, before: number | undefined, seconds: number): number =>
  before === undefined ? 0 : Math.max(0, (now - before) / seconds);

/** Rates between two samples of every domain, taken `seconds` apart. */
export function topRows(before: readonly DomainStats[], after: readonly DomainStats[], seconds: number): TopRow[] {
  const prev = new Map(before.map((s) => [s.id, s]));
  return after.map((s) => {
    const p = prev.get(s.id);
    const dt = seconds > 0 ? seconds : 1;
    const busyMs = p ? s.guestMs + s.hypervisorMs - (p.guestMs + p.hypervisorMs) : 0;
    return {
      id: s.id,
      name: s.name,
      state: s.state,
      cpuPercent: p ? Math.max(0, (100 * busyMs) / (dt * 1000)) : 0,
      mips: p ? Math.max(0, (s.instructions - p.instructions) / dt / 1e6) : 0,
      exitsPerSecond: p ? Math.max(0, (totalExits(s) - totalExits(p)) / dt) : 0,
      netRxBytesPerSecond: rate(netBytes(s, 'rxBytes'), p && netBytes(p, 'rxBytes'), dt),
      netTxBytesPerSecond: rate(netBytes(s, 'txBytes'), p && netBytes(p, 'txBytes'), dt),
      memoryBytes: s.memoryBytes,
      vcpus: s.vcpus,
      uptimeMs: s.uptimeMs,
    };
  });
}

export function topTable(rows: readonly TopRow[]): string {
  return table(
    ['ID', 'NAME', 'STATE', 'CPU%', 'MIPS', 'EXITS/S', 'NET RX/S', 'NET TX/S', 'VCPUS', 'MEMORY', 'UPTIME'],
    rows.map((r) => [
      r.id,
      r.name,
      r.state,
      r.cpuPercent.toFixed(1),
      r.mips.toFixed(2),
      formatCount(r.exitsPerSecond),
      formatBytes(Math.round(r.netRxBytesPerSecond)),
      formatBytes(Math.round(r.netTxBytesPerSecond)),
      r.vcpus,
      formatBytes(r.memoryBytes),
      formatDuration(r.uptimeMs),
    ]),
  );
}

async function sample(client: PvmClient): Promise<{ at: number; stats: DomainStats[] }> {
  const domains = await client.list();
  const stats: DomainStats[] = [];
  for (const d of domains) {
    try {
      stats.push(await client.stats(String(d.id)));
    } catch {
      // destroyed between list and stats
    }
  }
  return { at: performance.now(), stats };
}

/**
 * `pvm top`: samples every domain's counters each `intervalMs` and redraws a
 * table in place (log-update) until interrupted; with `once`, prints one
 * table (or JSON) computed over one interval and returns.
 */
export async function runTop(
  client: PvmClient,
  options: { intervalMs: number; once: boolean; json: boolean; write: (s: string) => void; signal?: AbortSignal },
): Promise<void> {
  let prev = await sample(client);
  const live = !options.once && !options.json;
  for (;;) {
    await new Promise((r) => setTimeout(r, options.intervalMs));
    if (options.signal?.aborted) break;
    const next = await sample(client);
    const rows = topRows(prev.stats, next.stats, (next.at - prev.at) / 1000);
    prev = next;
    if (options.json) options.write(`${JSON.stringify(rows)}\n`);
    else if (live) {
      const head = `pvm top - ${new Date().toISOString().slice(11, 19)} - ${rows.length} domains (Ctrl-C quits)\n`;
      logUpdate(head + (rows.length ? topTable(rows) : 'no domains\n'));
    } else options.write(topTable(rows));
    if (options.once) break;
  }
  if (live) logUpdate.done();
}

import Table from 'cli-table3';
import type { DeviceInfo, DomainInfo, DomainStats, NicStats, PortTraffic } from '../../api/domain.js';

/** Human-readable sizes and durations for the control commands' tables. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1 && n % 1024 === 0) {
    n /= 1024;
    i++;
  }
  if (n >= 1024 && i < units.length - 1) return `${(n / 1024).toFixed(1)} ${units[i + 1]}`;
  return `${n} ${units[i]}`;
}

export function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  return `${h}h${String(m % 60).padStart(2, '0')}m`;
}

export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n));
}

const plain = { chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' }, style: { head: [] } } as const;

/** A borderless table (like `xl list`), without colours so it reads the same in a pipe. */
export function table(head: string[], rows: (string | number)[][]): string {
  const t = new Table({
    head,
    chars: {
      top: '',
      'top-mid': '',
      'top-left': '',
      'top-right': '',
      bottom: '',
      'bottom-mid': '',
      'bottom-left': '',
      'bottom-right': '',
      left: '',
      right: '',
      middle: '  ',
      ...plain.chars,
    },
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
  });
  t.push(...rows.map((r) => r.map(String)));
  return `${t
    .toString()
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n')}\n`;
}

export function domainTable(domains: readonly DomainInfo[], now = Date.now()): string {
  return table(
    ['ID', 'NAME', 'STATE', 'VCPUS', 'MEMORY', 'UPTIME'],
    domains.map((d) => [
      d.id,
      d.name,
      d.state,
      d.vcpus,
      formatBytes(d.memoryBytes),
      formatDuration(now - Date.parse(d.startedAt)),
    ]),
  );
}

export function infoText(d: DomainInfo): string {
  const rows: [string, string][] = [
    ['id', String(d.id)],
    ['name', d.name],
    ['state', d.state],
    ['mode', d.mode],
    ['vcpus', String(d.vcpus)],
    ['memory', formatBytes(d.memoryBytes)],
    ['started', d.startedAt],
    ['graceful shutdown', d.gracefulShutdown ? 'yes' : 'no (destroy only)'],
    ['console input', d.consoleInput],
  ];
  if (d.exitReason !== undefined) rows.push(['exit reason', d.exitReason]);
  // The devices as the guest finds them, MACs read from the NICs.
  for (const x of d.devices) rows.push([`slot ${x.slot}`, deviceText(x)]);
  for (const [k, v] of Object.entries(d.config)) {
    if (k !== 'name') rows.push([`config.${k}`, typeof v === 'string' ? v : JSON.stringify(v)]);
  }
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}\n`).join('');
}

/** One device of `pvm info`: `net 52:54:00:00:01:00 on lan`, `blk /img/root.img (read-only)`. */
export function deviceText(x: DeviceInfo): string {
  if (x.kind === 'net') return `net ${x.mac} on ${x.switch}${x.uplink === 'user' ? ' (user-mode: passt)' : ''}`;
  if (x.kind === 'blk') return `blk ${x.path}${x.readonly ? ' (read-only)' : ''}`;
  if (x.kind === '9p') return `9p ${x.tag} = ${x.path}${x.readonly ? ' (read-only)' : ''}`;
  return x.kind;
}

export function statsText(s: DomainStats): string {
  const lines = [
    `${s.name} (id ${s.id}, ${s.state})`,
    `  instructions  ${s.instructions}`,
    `  guest time    ${s.guestMs.toFixed(1)} ms`,
    `  hypervisor    ${s.hypervisorMs.toFixed(1)} ms`,
    `  uptime        ${formatDuration(s.uptimeMs)}`,
    `  memory        ${formatBytes(s.memoryBytes)}`,
    `  vcpus         ${s.vcpus}`,
  ];
  const section = (title: string, m: Readonly<Record<string, number>>): void => {
    const entries = Object.entries(m).sort((a, b) => b[1] - a[1]);
    if (entries.length === 0) return;
    lines.push(`  ${title}`);
    const w = Math.max(...entries.map(([k]) => k.length));
    for (const [k, v] of entries) lines.push(`    ${k.padEnd(w)}  ${v}`);
  };
  section('exits', s.exits);
  section('hypercalls', s.hypercalls);
  if (s.nets !== undefined && s.nets.length > 0) {
    lines.push('  network');
    for (const l of netStatsLines(s.nets)) lines.push(`    ${l}`);
  }
  for (const t of s.threads ?? []) {
    const what = t.request !== undefined ? `${t.state} (${t.request})` : t.state;
    lines.push(`  hart ${t.hart} on its thread: ${what}, pc ${t.pc}, ${t.instret} instructions`);
  }
  if (s.consoleInputDropped) lines.push(`  console input dropped  ${s.consoleInputDropped} bytes (guest not reading)`);
  return `${lines.join('\n')}\n`;
}

/**
 * Each NIC's port and its switch's uplink, one line each (`pvm stats`, `pvm run --stats`):
 *   slot 0 52:54:00:00:00:00 on user: tx 12 frames 1480 bytes, rx 10 frames 2960 bytes
 *     uplink (passt): tx 10 frames 2960 bytes, rx 12 frames 1480 bytes, dropped 0, malformed 0
 */
export function netStatsLines(nets: readonly NicStats[]): string[] {
  const t = (p: PortTraffic) =>
    `tx ${p.txFrames} frames ${p.txBytes} bytes, rx ${p.rxFrames} frames ${p.rxBytes} bytes`;
  return nets.flatMap((n) => [
    `slot ${n.slot} ${n.mac} on ${n.switch}: ${t(n)}`,
    ...(n.uplink
      ? [`  uplink (passt): ${t(n.uplink)}, dropped ${n.uplink.dropped}, malformed ${n.uplink.malformed}`]
      : []),
  ]);
}

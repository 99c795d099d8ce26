/**
 * The daemon's dashboard: the domain list with its actions, a create form that shows the
 * schema's errors at the field, an xterm.js console per domain over the console WebSocket, and
 * live charts from the stats endpoint. Every string a guest or a config controls reaches the
 * page through textContent (never innerHTML), so a domain named `<img src=x onerror=...>` is
 * shown as those characters.
 */
import { parseDocument } from 'yaml';
import { LiveChart, rates } from '../shared/charts.js';
import { ConsoleView } from '../shared/terminal.js';
import './style.css';

interface DomainInfo {
  id: number;
  name: string;
  state: string;
  mode: string;
  vcpus: number;
  memoryBytes: number;
  startedAt: string;
}
interface DomainStats {
  name: string;
  instructions: number;
  guestMs: number;
  idleMs?: number;
  stealMs?: number;
  uptimeMs: number;
  exits: Record<string, number>;
  hypercalls: Record<string, number>;
}

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

class ApiFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`/v1${path}`, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ApiFailure('io', `the daemon answered ${res.status} without JSON`);
  }
  if (!res.ok) {
    const e = (json as { error?: { code?: string; message?: string } }).error;
    throw new ApiFailure(e?.code ?? 'internal', e?.message ?? `the daemon answered ${res.status}`);
  }
  return json as T;
}

const seg = (name: string): string => `/domains/${encodeURIComponent(name)}`;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, cls?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

const size = (bytes: number): string =>
  bytes >= 2 ** 30 ? `${bytes / 2 ** 30} GiB` : bytes >= 2 ** 20 ? `${bytes / 2 ** 20} MiB` : `${bytes} B`;

function uptime(startedAt: string, state: string): string {
  if (state === 'shutoff' || state === 'crashed') return '—';
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(startedAt)) / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${s % 60}s` : `${s}s`;
}

// ---- domains list and actions ----

let domains: DomainInfo[] = [];
let selected: string | null = null;

function showActionError(e: unknown): void {
  $('action-error').textContent = e instanceof Error ? e.message : String(e);
}

async function act(label: string, f: () => Promise<unknown>): Promise<void> {
  $('action-error').textContent = '';
  try {
    await f();
  } catch (e) {
    showActionError(e);
    return;
  }
  $('status').textContent = `${label} done`;
  await refresh();
}

function actions(d: DomainInfo): HTMLElement {
  const td = el('td', undefined, 'actions');
  const button = (label: string, f: () => Promise<unknown>): void => {
    const b = el('button', label);
    b.type = 'button';
    b.dataset.action = label.toLowerCase();
    b.addEventListener('click', (ev) => {
      ev.stopPropagation();
      void act(`${label} ${d.name}`, f);
    });
    td.append(b);
  };
  if (d.state === 'running') button('Pause', () => api('POST', `${seg(d.name)}/pause`));
  if (d.state === 'paused') button('Resume', () => api('POST', `${seg(d.name)}/unpause`));
  button('Reboot', () => api('POST', `${seg(d.name)}/reboot`));
  if (d.state === 'running' || d.state === 'paused') {
    button('Save', async () => {
      const path = prompt(`Save ${d.name} to which file on the daemon's host?`, `/tmp/${d.name}.pvmsnap`);
      if (path) await api('POST', `${seg(d.name)}/save`, { path, keep: true });
    });
  }
  button('Destroy', async () => {
    if (confirm(`Destroy ${d.name}? Its state is lost.`)) await api('DELETE', seg(d.name));
  });
  return td;
}

function render(): void {
  const body = $('domains').querySelector('tbody')!;
  const rows = domains.map((d) => {
    const tr = el('tr');
    tr.dataset.domain = d.name;
    if (d.name === selected) tr.className = 'selected';
    const name = el('td', d.name, 'name');
    name.title = 'show its console and figures';
    name.addEventListener('click', () => select(d.name));
    tr.append(
      name,
      el('td', d.state, `state state-${d.state}`),
      el('td', d.mode, 'mode'),
      el('td', String(d.vcpus), 'vcpus'),
      el('td', size(d.memoryBytes), 'memory'),
      el('td', uptime(d.startedAt, d.state), 'uptime'),
      actions(d),
    );
    return tr;
  });
  body.replaceChildren(...rows);
  if (rows.length === 0) {
    const tr = el('tr');
    const td = el('td', 'No domains yet.', 'muted');
    td.colSpan = 7;
    tr.append(td);
    body.append(tr);
  }
  const scope = $<HTMLSelectElement>('chart-scope');
  const want = ['', ...domains.map((d) => d.name)];
  const have = [...scope.options].map((o) => o.value);
  if (want.join('\0') !== have.join('\0')) {
    const keep = scope.value;
    scope.replaceChildren(
      ...want.map((n) => {
        const o = el('option', n === '' ? 'all domains' : n);
        o.value = n;
        return o;
      }),
    );
    scope.value = want.includes(keep) ? keep : '';
  }
}

async function refresh(): Promise<void> {
  try {
    domains = await api<DomainInfo[]>('GET', '/domains');
    $('status').textContent = `${domains.length} domain${domains.length === 1 ? '' : 's'}`;
  } catch (e) {
    $('status').textContent = `daemon unreachable: ${e instanceof Error ? e.message : e}`;
    return;
  }
  render();
  if (selected === null && domains.length > 0) select(domains[0]!.name);
  if (selected !== null && !domains.some((d) => d.name === selected)) {
    closeConsole();
    selected = null;
  }
}

// ---- create, with errors at the field ----

/** "config.devices[1].path: message" lines of a refused create. */
function fieldErrors(message: string): { path: (string | number)[]; field: string; text: string }[] {
  return message.split('\n').map((line) => {
    const m = /^config\.([\w.[\]]+): (.*)$/.exec(line);
    if (!m) return { path: [], field: '', text: line };
    const path = m[1]!.split(/\.|\[(\d+)\]/).filter((x) => x !== undefined && x !== '');
    return { path: path.map((p) => (/^\d+$/.test(p) ? Number(p) : p)), field: m[1]!, text: m[2]! };
  });
}

function lineOf(text: string, offset: number): number {
  return text.slice(0, offset).split('\n').length;
}

async function create(): Promise<void> {
  const area = $<HTMLTextAreaElement>('create-config');
  const list = $('create-errors');
  list.replaceChildren();
  area.removeAttribute('aria-invalid');
  const source = area.value;
  const doc = parseDocument(source, { prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    list.append(el('li', `line ${e.linePos?.[0]?.line ?? '?'}: ${e.message}`));
    area.setAttribute('aria-invalid', 'true');
    return;
  }
  const config = doc.toJS() as unknown;
  try {
    const info = await api<DomainInfo>('POST', '/domains', {
      config,
      ...($<HTMLInputElement>('create-paused').checked ? { paused: true } : {}),
    });
    $('status').textContent = `created ${info.name}`;
    selected = info.name;
    await refresh();
    select(info.name);
  } catch (e) {
    area.setAttribute('aria-invalid', 'true');
    const message = e instanceof Error ? e.message : String(e);
    for (const fe of fieldErrors(message)) {
      // Where the field is in the document: its value, else its nearest parent that is there.
      let node: unknown = null;
      for (let n = fe.path.length; n > 0 && node === null; n--) {
        node = doc.getIn(fe.path.slice(0, n), true) ?? null;
      }
      const range = (node as { range?: [number, number, number] } | null)?.range;
      const li = el('li');
      li.dataset.field = fe.field;
      const where = range ? `line ${lineOf(source, range[0])}, ` : '';
      li.append(el('strong', fe.field ? `${where}${fe.field}` : where.replace(/, $/, '')), el('span', `: ${fe.text}`));
      if (range) {
        li.title = 'select the field';
        li.addEventListener('click', () => {
          area.focus();
          area.setSelectionRange(range[0], range[1]);
        });
      }
      list.append(li);
    }
  }
}

// ---- console ----

let view: ConsoleView | null = null;
let socket: WebSocket | null = null;

function closeConsole(): void {
  socket?.close();
  socket = null;
  view?.dispose();
  view = null;
  $('console-name').textContent = '';
}

function openConsole(name: string, write = true): void {
  closeConsole();
  $('console-name').textContent = `of ${name}`;
  view = new ConsoleView($('terminal'));
  const v = view;
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${proto}//${location.host}/v1${seg(name)}/console?write=${write}`, 'pvm-console');
  ws.binaryType = 'arraybuffer';
  socket = ws;
  let opened = false;
  ws.onopen = () => {
    opened = true;
  };
  ws.onmessage = (ev) => v.write(new Uint8Array(ev.data as ArrayBuffer));
  ws.onclose = (ev) => {
    if (socket !== ws) return;
    // Another client holds the input: watch read-only.
    if (!opened && write) return openConsole(name, false);
    v.write(`\r\n[console closed${ev.reason ? `: ${ev.reason}` : ''}]\r\n`);
  };
  v.term.onData((data) => {
    if (ws.readyState === ws.OPEN && write) ws.send(new TextEncoder().encode(data));
  });
  v.term.focus();
}

function select(name: string): void {
  if (selected === name && view !== null) return;
  selected = name;
  render();
  openConsole(name);
}

// ---- charts ----

const charts = {
  mips: new LiveChart($('charts'), 'MIPS', 'MIPS'),
  exits: new LiveChart($('charts'), 'Exits per second by kind', 'exits/s'),
  hypercalls: new LiveChart($('charts'), 'Hypercalls per second by function', 'calls/s'),
  time: new LiveChart($('charts'), 'Steal and idle (ms per second)', 'ms/s'),
};
let last = new Map<string, { t: number; s: DomainStats }>();
let scope = '';

async function sample(): Promise<void> {
  const t = Date.now() / 1000;
  const names = domains.filter((d) => d.state !== 'shutoff').map((d) => d.name);
  const now = new Map<string, { t: number; s: DomainStats }>();
  await Promise.all(
    names.map(async (n) => {
      try {
        now.set(n, { t, s: await api<DomainStats>('GET', `${seg(n)}/stats`) });
      } catch {
        // destroyed meanwhile
      }
    }),
  );
  const mips: Record<string, number> = {};
  const exits: Record<string, number> = {};
  const calls: Record<string, number> = {};
  const time: Record<string, number> = {};
  const add = (into: Record<string, number>, from: Record<string, number>, prefix: string) => {
    for (const [k, v] of Object.entries(from)) into[prefix + k] = (into[prefix + k] ?? 0) + v;
  };
  let any = false;
  for (const [n, cur] of now) {
    const prev = last.get(n);
    if (!prev) continue;
    const dt = cur.t - prev.t;
    if (dt <= 0) continue;
    any = true;
    mips[n] = Math.max(0, (cur.s.instructions - prev.s.instructions) / dt / 1e6);
    if (scope !== '' && n !== scope) continue;
    const who = scope === '' && names.length > 1 ? `${n} ` : '';
    add(exits, rates(prev.s.exits, cur.s.exits, dt), who);
    add(calls, rates(prev.s.hypercalls, cur.s.hypercalls, dt), who);
    add(
      time,
      rates(
        { steal: prev.s.stealMs ?? 0, idle: prev.s.idleMs ?? 0 },
        { steal: cur.s.stealMs ?? 0, idle: cur.s.idleMs ?? 0 },
        dt,
      ),
      who,
    );
  }
  last = now;
  if (!any) return;
  charts.mips.push(t, scope === '' ? mips : { [scope]: mips[scope] ?? 0 });
  charts.exits.push(t, exits);
  charts.hypercalls.push(t, calls);
  charts.time.push(t, time);
}

// ---- start ----

$('create').addEventListener('click', () => void create());
$('restore').addEventListener('click', () => {
  const path = $<HTMLInputElement>('restore-path').value.trim();
  const name = $<HTMLInputElement>('restore-name').value.trim();
  if (path) void act('restore', () => api('POST', '/restore', { path, ...(name ? { name } : {}) }));
});
$<HTMLSelectElement>('chart-scope').addEventListener('change', (ev) => {
  scope = (ev.target as HTMLSelectElement).value;
  for (const c of Object.values(charts)) c.clear();
});
api<{ pvm: string; api: string }>('GET', '/version').then(
  (v) => {
    $('version').textContent = `daemon ${v.pvm}, API v${v.api}`;
  },
  () => {},
);
void refresh();
setInterval(() => void refresh(), 1000);
setInterval(() => void sample(), 1000);

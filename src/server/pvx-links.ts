/**
 * PVX between the threads of the daemon's pool (docs/pvx-implementation.md, "Across threads"):
 * each thread's PvxHost reaches the domains of the others through a PvxLinks. Every pair of
 * threads has a MessagePort pair; a shared directory says which thread holds each domain id, and
 * a doorbell per thread wakes one that waits for an answer.
 *
 * A request (remote.ts) is answered while the asking thread waits in the guest's hypercall: it
 * waits on its doorbell and, meanwhile, serves what the other threads ask of it, so two threads
 * asking each other at once both get their answer. Notes are one-way and keep their order with
 * the requests between the same two threads. Signals (EVTCHN_SEND): the first to a thread in a
 * turn of this thread's event loop goes at once; the later ones are gathered, one per sending
 * port, and sent when the turn ends. A guest that floods a port makes at most two messages per
 * turn, as an event channel's pending bit holds one event.
 */
import { performance } from 'node:perf_hooks';
import { type MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import type { PvxHost, PvxRemote } from '../hypervisor/pvx/host.js';
import type { PvxDomain } from '../hypervisor/pvx/pvx-domain.js';
import { isPvxRequest, type PvxNote, type PvxReply, type PvxRequest, servePvx } from '../hypervisor/pvx/remote.js';
import { PVX_DOMID_MAX, PVX_EVTCHN_NR_PORTS } from '../sbi/pvx/consts.js';

/** What a thread needs to join the links (posted to each worker in its workerData). */
export interface PvxLinksData {
  /** This thread: 0 the main thread, 1..n the workers. */
  readonly self: number;
  /** Int32Array(PVX_DOMID_MAX + 1): 1 + the thread holding each domain id, 0 for none. */
  readonly directory: SharedArrayBuffer;
  /** Int32Array(threads): each thread's doorbell, rung after every message to it. */
  readonly bells: SharedArrayBuffer;
  /** ports[t]: to and from thread t (null for this thread). */
  readonly ports: readonly (MessagePort | null)[];
}

/** How long a request waits for the other thread (which answers between its guests' turns, ms apart). */
export const PVX_CALL_TIMEOUT_MS = 2000;

type Wire =
  | { readonly t: 'req'; readonly seq: number; readonly req: PvxRequest }
  | { readonly t: 'rep'; readonly seq: number; readonly rep: PvxReply }
  | { readonly t: 'note'; readonly note: PvxNote }
  /** Signals: to, port, from, fromPort for each. */
  | { readonly t: 'signals'; readonly list: readonly number[] };

/** The shared parts of a pool's links, made by the main thread: one PvxLinksData per thread. */
export function pvxLinksData(threads: number, channel: () => [MessagePort, MessagePort]): PvxLinksData[] {
  const directory = new SharedArrayBuffer(4 * (PVX_DOMID_MAX + 1));
  const bells = new SharedArrayBuffer(4 * threads);
  const ports: (MessagePort | null)[][] = Array.from({ length: threads }, () => Array(threads).fill(null));
  for (let a = 0; a < threads; a++) {
    for (let b = a + 1; b < threads; b++) [ports[a]![b], ports[b]![a]] = channel();
  }
  return ports.map((p, self) => ({ self, directory, bells, ports: p }));
}

export class PvxLinks implements PvxRemote {
  private readonly self: number;
  private readonly dir: Int32Array;
  private readonly bells: Int32Array;
  private readonly ports: readonly (MessagePort | null)[];
  private host: PvxHost<PvxDomain> | null = null;
  private seq = 0;
  /** The request waited for, and its answer once it came. */
  private waiting = 0;
  private answer: PvxReply | undefined;
  /** Binds and maps that timed out, by seq: a late success is undone (the asker gave up). */
  private readonly late = new Map<number, Extract<PvxRequest, { k: 'bind' | 'map' }>>();
  /** Per thread, the signals not sent yet: key from x 1024 + fromPort, value [to, port]. */
  private readonly signals: Map<number, readonly [number, number]>[];
  /** Per thread, whether signals went to it in this turn (the next ones wait for the turn's end). */
  private readonly sentInTurn: boolean[];
  private flushing = false;
  /** Requests that were not answered in time (for tests and logs). */
  timeouts = 0;

  constructor(
    data: PvxLinksData,
    private readonly timeoutMs = PVX_CALL_TIMEOUT_MS,
  ) {
    this.self = data.self;
    this.dir = new Int32Array(data.directory);
    this.bells = new Int32Array(data.bells);
    this.ports = data.ports;
    this.signals = data.ports.map(() => new Map());
    this.sentInTurn = data.ports.map(() => false);
  }

  /** Serve this thread's registry to the others, and let it reach theirs. */
  attach(host: PvxHost<PvxDomain>): void {
    this.host = host;
    host.remote = this;
    this.ports.forEach((port, t) => {
      if (port === null) return;
      port.on('message', (m: Wire) => this.receive(t, m));
      port.unref();
    });
  }

  // ------------------------------------------------------------------ PvxRemote

  has(id: number): boolean {
    return this.threadOf(id) >= 0;
  }

  added(id: number): void {
    Atomics.store(this.dir, id, this.self + 1);
  }

  removed(id: number): void {
    Atomics.compareExchange(this.dir, id, this.self + 1, 0);
  }

  post(note: PvxNote): void {
    if (note.k === 'gone') return; // the main thread's, for all threads (gone())
    const t = this.threadOf(note.to);
    if (t < 0) return;
    if (note.k === 'signal') {
      const q = this.signals[t]!;
      q.set(note.from * PVX_EVTCHN_NR_PORTS + note.fromPort, [note.to, note.port]);
      if (!this.sentInTurn[t]) {
        this.sentInTurn[t] = true;
        this.flush(t);
      }
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => this.flushAll());
      }
      return;
    }
    this.send(t, { t: 'note', note });
  }

  call(req: PvxRequest): PvxReply | undefined {
    const t = this.threadOf(req.to);
    if (t < 0) return undefined;
    const seq = ++this.seq;
    this.send(t, { t: 'req', seq, req });
    this.waiting = seq;
    this.answer = undefined;
    const end = performance.now() + this.timeoutMs;
    try {
      for (;;) {
        const bell = Atomics.load(this.bells, this.self);
        if (this.serve(t)) return this.answer;
        const left = end - performance.now();
        // the thread ended (the main thread took its domains out of the directory), or no answer in time
        if (left <= 0 || this.threadOf(req.to) !== t) {
          this.timeouts++;
          if (req.k === 'bind' || req.k === 'map') this.late.set(seq, req);
          return undefined;
        }
        Atomics.wait(this.bells, this.self, bell, Math.min(left, 100));
      }
    } finally {
      this.waiting = 0;
      this.answer = undefined;
    }
  }

  // ------------------------------------------------------------------ the main thread's side

  /** Every domain of thread `t` (which ended) leaves the directory; the other threads unbind their ports to them. */
  threadGone(t: number): void {
    const ids: number[] = [];
    for (let id = 1; id <= PVX_DOMID_MAX; id++) {
      if (Atomics.compareExchange(this.dir, id, t + 1, 0) === t + 1) ids.push(id);
    }
    for (const id of ids) {
      const note: PvxNote = { k: 'gone', id };
      if (this.host !== null) servePvx(this.host, note);
      this.ports.forEach((_, u) => {
        if (u !== t && u !== this.self) this.send(u, { t: 'note', note });
      });
    }
  }

  /**
   * Handles what the other threads posted so far, now (the main thread while it waits for a
   * worker). With `until`, stops at the answer awaited from that thread and returns true.
   */
  serve(until = -1): boolean {
    for (let t = 0; t < this.ports.length; t++) {
      const port = this.ports[t];
      if (port === null || port === undefined) continue;
      for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
        this.receive(t, m.message as Wire);
        if (t === until && this.answer !== undefined) return true;
      }
    }
    return false;
  }

  // ------------------------------------------------------------------ internals

  private threadOf(id: number): number {
    if (!Number.isInteger(id) || id < 1 || id > PVX_DOMID_MAX) return -1;
    const t = Atomics.load(this.dir, id) - 1;
    return t >= 0 && t !== this.self && t < this.ports.length ? t : -1;
  }

  private receive(t: number, m: Wire): void {
    const host = this.host;
    if (host === null || typeof m !== 'object' || m === null) return;
    switch (m.t) {
      case 'req':
        this.send(t, { t: 'rep', seq: m.seq, rep: servePvx(host, m.req) ?? { err: -3 } });
        return;
      case 'rep':
        if (m.seq === this.waiting) this.answer = m.rep;
        else this.undoLate(m.seq, m.rep);
        return;
      case 'note':
        if (!isPvxRequest(m.note)) servePvx(host, m.note);
        return;
      case 'signals': {
        const l = m.list;
        if (!Array.isArray(l)) return;
        for (let i = 0; i + 3 < l.length; i += 4) {
          servePvx(host, { k: 'signal', to: l[i], port: l[i + 1], from: l[i + 2], fromPort: l[i + 3] });
        }
        return;
      }
    }
  }

  /**
   * A bind or map answered after the asker gave up: its port was freed, so the other end is
   * closed again; the granter counted a mapping nobody holds, so it is unmapped again.
   */
  private undoLate(seq: number, rep: PvxReply): void {
    const req = this.late.get(seq);
    if (req === undefined) return;
    this.late.delete(seq);
    if (rep.err !== 0) return;
    if (req.k === 'bind' && req.fromPort !== 0) {
      this.post({ k: 'closed', to: req.to, port: req.port, from: req.from, fromPort: req.fromPort });
    } else if (req.k === 'map' && rep.page !== undefined) {
      this.post({ k: 'unmapped', to: req.to, from: req.from, ref: req.ref, page: rep.page, ro: req.ro });
    }
  }

  /** Posts to thread `t` after the signals gathered for it (the order of one thread's messages holds). */
  private send(t: number, m: Wire): void {
    this.flush(t);
    this.ports[t]?.postMessage(m);
    Atomics.add(this.bells, t, 1);
    Atomics.notify(this.bells, t);
  }

  private flush(t: number): void {
    const q = this.signals[t];
    if (q === undefined || q.size === 0) return;
    const list: number[] = [];
    for (const [key, [to, port]] of q) {
      list.push(to, port, Math.floor(key / PVX_EVTCHN_NR_PORTS), key % PVX_EVTCHN_NR_PORTS);
    }
    q.clear();
    this.ports[t]?.postMessage({ t: 'signals', list } satisfies Wire);
    Atomics.add(this.bells, t, 1);
    Atomics.notify(this.bells, t);
  }

  private flushAll(): void {
    this.flushing = false;
    for (let t = 0; t < this.signals.length; t++) {
      this.flush(t);
      this.sentInTurn[t] = false;
    }
  }
}

import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { ControlPlane } from '../api/control.js';
import { DOMAIN_STATES, type DomainInfo, type DomainStats } from '../api/domain.js';
import type { SwitchLinkInfo } from '../api/switches.js';

/** What one scrape reads: every domain's info and counters, taken once. */
interface Sample {
  readonly info: DomainInfo;
  readonly stats: DomainStats;
}

/**
 * GET /metrics: the daemon's domains in the Prometheus text format (prom-client). Every figure
 * is read from the control plane when Prometheus scrapes, so nothing is counted twice and a
 * destroyed domain's series simply disappear. Label values are the domain names and the
 * counter keys the hypervisor reports; prom-client escapes them.
 */
export class DaemonMetrics {
  readonly registry = new Registry();
  private sample: Sample[] = [];

  constructor(private readonly control: ControlPlane) {
    const r = [this.registry];
    const each = (fn: (s: Sample) => void) => () => {
      for (const s of this.sample) fn(s);
    };
    // render() takes the sample before prom-client calls the collectors.
    new Gauge({
      name: 'pvm_domains',
      help: 'Domains the daemon runs, by state',
      labelNames: ['state'],
      registers: r,
      collect: () => {
        const g = this.registry.getSingleMetric('pvm_domains') as Gauge<'state'>;
        g.reset();
        for (const st of DOMAIN_STATES) g.set({ state: st }, this.sample.filter((s) => s.info.state === st).length);
      },
    });
    const gauge = <L extends string>(
      name: string,
      help: string,
      labelNames: L[],
      set: (g: Gauge<L>, s: Sample) => void,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: ['domain', ...labelNames] as (L | 'domain')[],
        registers: r,
        collect() {
          this.reset();
          each((s) => set(this as unknown as Gauge<L>, s))();
        },
      });
    const counter = <L extends string>(
      name: string,
      help: string,
      labelNames: L[],
      set: (c: Counter<L>, s: Sample) => void,
    ) =>
      new Counter({
        name,
        help,
        labelNames: ['domain', ...labelNames] as (L | 'domain')[],
        registers: r,
        collect() {
          this.reset();
          each((s) => set(this as unknown as Counter<L>, s))();
        },
      });
    const d = (s: Sample) => ({ domain: s.info.name });

    gauge('pvm_domain_info', 'Always 1: the domain with its id and mode as labels', ['id', 'mode'], (g, s) =>
      g.set({ ...d(s), id: String(s.info.id), mode: s.info.mode } as never, 1),
    );
    gauge('pvm_domain_state', '1 for the state the domain is in, 0 for the others', ['state'], (g, s) => {
      for (const st of DOMAIN_STATES) g.set({ ...d(s), state: st } as never, s.info.state === st ? 1 : 0);
    });
    gauge('pvm_domain_vcpus', 'vCPUs of the domain', [], (g, s) => g.set(d(s) as never, s.info.vcpus));
    gauge('pvm_domain_memory_bytes', 'Guest RAM of the domain', [], (g, s) => g.set(d(s) as never, s.info.memoryBytes));
    gauge('pvm_domain_uptime_seconds', 'Seconds since the domain started or last rebooted', [], (g, s) =>
      g.set(d(s) as never, s.stats.uptimeMs / 1000),
    );
    counter('pvm_domain_instructions_total', 'Instructions retired by all vCPUs', [], (c, s) =>
      c.inc(d(s) as never, s.stats.instructions),
    );
    counter(
      'pvm_domain_exits_total',
      'Exits to the hypervisor by kind (MMIO is counted by device)',
      ['kind'],
      (c, s) => {
        for (const [kind, n] of Object.entries(s.stats.exits)) {
          if (!kind.startsWith('mmio:')) c.inc({ ...d(s), kind } as never, n);
        }
      },
    );
    counter('pvm_domain_mmio_total', 'MMIO accesses to emulated devices, by device', ['device'], (c, s) => {
      for (const [kind, n] of Object.entries(s.stats.exits)) {
        if (kind.startsWith('mmio:')) c.inc({ ...d(s), device: kind.slice(5) } as never, n);
      }
    });
    counter('pvm_domain_hypercalls_total', 'Hypercalls by extension and function', ['call'], (c, s) => {
      for (const [call, n] of Object.entries(s.stats.hypercalls)) c.inc({ ...d(s), call } as never, n);
    });
    counter(
      'pvm_domain_virtio_bytes_total',
      'Bytes through virtio devices: from the guest (buffers consumed) and to it (written back)',
      ['device', 'direction'],
      (c, s) => {
        for (const [device, b] of Object.entries(s.stats.virtio ?? {})) {
          c.inc({ ...d(s), device, direction: 'from_guest' } as never, b.fromGuest);
          c.inc({ ...d(s), device, direction: 'to_guest' } as never, b.toGuest);
        }
      },
    );
    const seconds = (name: string, help: string, pick: (s: DomainStats) => number | undefined) =>
      counter(name, help, [], (c, s) => c.inc(d(s) as never, (pick(s.stats) ?? 0) / 1000));
    seconds('pvm_domain_guest_seconds_total', 'Host seconds spent running guest code', (s) => s.guestMs);
    seconds('pvm_domain_hypervisor_seconds_total', 'Host seconds spent handling exits', (s) => s.hypervisorMs);
    seconds(
      'pvm_domain_idle_seconds_total',
      'Seconds every vCPU of the domain waited with nothing to do',
      (s) => s.idleMs,
    );
    seconds('pvm_domain_steal_seconds_total', 'Seconds runnable vCPUs waited for the host, summed', (s) => s.stealMs);

    // Switch links to other daemons (docs/networking.md): one series per link, as `pvm switch list` shows them.
    const links = () =>
      (this.control.network?.list() ?? []).flatMap((sw) =>
        sw.links.map((l) => ({ l, labels: { switch: sw.name, peer: l.peer, direction: l.direction } })),
      );
    const linkLabels = ['switch', 'peer', 'direction'];
    new Gauge({
      name: 'pvm_switch_link_up',
      help: '1 while a switch link to another daemon is up, 0 while it is (re)dialed',
      labelNames: linkLabels,
      registers: r,
      collect() {
        this.reset();
        for (const { l, labels } of links()) this.set(labels, l.state === 'up' ? 1 : 0);
      },
    });
    const linkCounter = (name: string, help: string, value: (l: SwitchLinkInfo) => Record<string, number>) =>
      new Counter({
        name,
        help,
        labelNames: [...linkLabels, 'way'],
        registers: r,
        collect() {
          this.reset();
          for (const { l, labels } of links()) {
            for (const [way, v] of Object.entries(value(l))) this.inc({ ...labels, way }, v);
          }
        },
      });
    linkCounter('pvm_switch_link_frames_total', 'Frames over a switch link: in from the peer, out to it', (l) => ({
      in: l.txFrames,
      out: l.rxFrames,
    }));
    linkCounter('pvm_switch_link_bytes_total', 'Bytes over a switch link: in from the peer, out to it', (l) => ({
      in: l.txBytes,
      out: l.rxBytes,
    }));
    linkCounter(
      'pvm_switch_link_refused_total',
      'Frames for the peer dropped (out: its backlog was full) and messages from it refused (in: malformed)',
      (l) => ({ out: l.dropped, in: l.malformed }),
    );
    collectDefaultMetrics({ register: this.registry, prefix: 'pvm_daemon_' });
  }

  /**
   * Every domain's info and counters. With `statsOf` (a pool of worker threads) the counters
   * are gathered without holding the thread, one call per worker, not one blocking call per
   * domain; a domain destroyed between list and read is simply not in this scrape.
   */
  private async take(): Promise<Sample[]> {
    const m = this.control.domains;
    const ids = m.list().map((h) => h.id);
    const stats: (DomainStats | undefined)[] = [];
    if (m.statsOf !== undefined) {
      const got = new Map((await m.statsOf(ids)).map((s) => [s.id, s]));
      for (const id of ids) stats.push(got.get(id));
    } else {
      for (const id of ids) {
        try {
          stats.push(m.stats(id));
        } catch {
          stats.push(undefined);
        }
      }
    }
    const out: Sample[] = [];
    ids.forEach((id, k) => {
      const s = stats[k];
      if (s === undefined) return;
      try {
        out.push({ info: m.info(id), stats: s });
      } catch {
        // destroyed meanwhile
      }
    });
    return out;
  }

  /** The exposition text, and its content type. */
  async render(): Promise<{ text: string; contentType: string }> {
    this.sample = await this.take();
    return { text: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}

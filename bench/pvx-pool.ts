/**
 * PVX across the daemon's worker pool: a vchan between two pvos domains (a mapped grant and an
 * interdomain event channel, docs/para-api-pvx.md appendix A) on one thread — two domains with
 * a NIC, which the pool keeps on its main thread — and on two workers, alternating, in one
 * PoolDomainManager with 2 workers. Prints JSON: seconds per transfer in each layout, their
 * ratio, the load average.
 *
 *   node dist/bench/pvx-pool.js [--mib 4] [--rounds 2]
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseDomainSpec } from '../src/api/spec.js';
import { PoolDomainManager } from '../src/server/pool-domains.js';
import { PVOS_ELF } from './pvos-session.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const mib = opt('--mib', 4);
const rounds = opt('--rounds', 2);

/** A domain's console: everything it printed, and a wait for the next match after a mark. */
class Con {
  private text = '';
  private mark = 0;
  private wake: (() => void) | undefined;
  constructor(
    private readonly m: PoolDomainManager,
    private readonly id: number,
  ) {
    const c = m.console(id);
    const dec = new TextDecoder();
    this.text = dec.decode(c.history());
    c.subscribe((d) => {
      this.text += dec.decode(d).replace(/\r/g, '');
      this.wake?.();
    });
  }
  async until(re: RegExp): Promise<RegExpExecArray> {
    for (;;) {
      re.lastIndex = 0;
      const hit = re.exec(this.text.slice(this.mark));
      if (hit) {
        this.mark += hit.index + hit[0].length;
        return hit;
      }
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 1000);
      });
    }
  }
  async run(cmd: string, re: RegExp): Promise<RegExpExecArray> {
    this.m.console(this.id).write(new TextEncoder().encode(`${cmd}\n`));
    return this.until(re);
  }
}

async function transfer(s: { id: number; con: Con }, c: { id: number; con: Con }): Promise<number> {
  const l = await s.con.run(`vchan listen ${c.id}`, /ref (\d+) port (\d+)\n/);
  await c.con.run(`vchan connect ${s.id} ${l[1]} ${l[2]}`, /vchan: connected[^\n]*\n/);
  const t0 = performance.now();
  s.con.run(`vchan pump ${mib}`, /vchan: sent \d+ bytes, checksum (\w+)\n/);
  const got = await c.con.run(`vchan sink ${mib}`, /vchan: received (\d+) bytes, checksum (\w+)\n/);
  const seconds = (performance.now() - t0) / 1000;
  await c.con.run('vchan close', /vchan: closed\n/);
  await s.con.run('vchan close', /vchan: closed\n/);
  if (Number(got[1]) !== mib * 1024 * 1024) throw new Error(`received ${got[1]} bytes`);
  return seconds;
}

async function main(): Promise<void> {
  const m = new PoolDomainManager({ workers: 2 });
  const boot = async (name: string, nets: string[]) => {
    const h = await m.create(parseDomainSpec({ name, kernel: PVOS_ELF, memory: '64M', nets }), { paused: false });
    const con = new Con(m, h.id);
    await con.until(/pvos> /);
    return { id: h.id, con, where: m.placement(h.id) };
  };
  const one = [await boot('m1', ['lan']), await boot('m2', ['lan'])];
  const two = [await boot('w1', []), await boot('w2', [])];
  const loadBefore = loadavg()[0]!;
  const oneThread: number[] = [];
  const twoWorkers: number[] = [];
  for (let r = 0; r < rounds; r++) {
    oneThread.push(await transfer(one[0]!, one[1]!));
    twoWorkers.push(await transfer(two[0]!, two[1]!));
  }
  const round = (x: number) => Number(x.toFixed(3));
  process.stdout.write(
    `${JSON.stringify(
      {
        bench: 'pvx-pool',
        mib,
        placements: [...one, ...two].map((d) => d.where),
        oneThreadSeconds: oneThread.map(round),
        twoWorkersSeconds: twoWorkers.map(round),
        /** best on two workers / best on one thread: below 1, the vchan is faster across workers. */
        ratio: round(Math.min(...twoWorkers) / Math.min(...oneThread)),
        loadavg1: [round(loadBefore), round(loadavg()[0]!)],
      },
      null,
      2,
    )}\n`,
  );
  await m.close();
}

main().catch((e) => {
  process.stderr.write(`bench/pvx-pool: ${e instanceof Error ? e.message : e}\n`);
  process.exit(1);
});

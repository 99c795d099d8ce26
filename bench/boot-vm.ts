/**
 * Boots one VM in this process through the library (createVm), for benchmark variants that
 * need a VmConfig field the `pvm run` command line does not offer yet: today `sstc`. Console
 * on stdout, statistics as `pvm run --stats-json` writes them, exit status 0 on poweroff.
 *
 *   node dist/bench/boot-vm.js --mode pv|full --sstc on|off --kernel F [--initrd F] [--append S]
 *        [--firmware F] [--smp N] [--memory 256M] --stats-json FILE
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { NodeDomainHost } from '../src/host/domain-host.js';
import { createVm } from '../src/hypervisor/vm.js';

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const need = (name: string): string => {
  const v = opt(name);
  if (v === undefined) throw new Error(`boot-vm: ${name} is required`);
  return v;
};

const mode = need('--mode');
if (mode !== 'pv' && mode !== 'full') throw new Error(`boot-vm: --mode pv or full, not ${mode}`);
const sstc = need('--sstc');
if (sstc !== 'on' && sstc !== 'off') throw new Error(`boot-vm: --sstc on or off, not ${sstc}`);
const mem = /^(\d+)M$/.exec(opt('--memory') ?? '256M');
if (mem === null) throw new Error('boot-vm: --memory takes NM (MiB)');
const initrd = opt('--initrd');
const firmware = opt('--firmware');

const host = new NodeDomainHost((b) => process.stdout.write(b));
const domain = createVm(
  {
    mode,
    harts: Number(opt('--smp') ?? '1'),
    memory: Number(mem[1]) * 1024 * 1024,
    kernel: readFileSync(need('--kernel')),
    ...(initrd !== undefined ? { initrd: readFileSync(initrd) } : {}),
    ...(firmware !== undefined ? { firmware: readFileSync(firmware) } : {}),
    cmdline: opt('--append') ?? 'console=ttyS0',
    sstc: sstc === 'on',
  },
  host,
  { wallClockNs: () => BigInt(Date.now()) * 1_000_000n },
);
const end = await domain.run();
host.flush();
writeFileSync(need('--stats-json'), `${JSON.stringify(domain.statistics(), null, 2)}\n`);
process.exitCode = end.kind === 'limit' ? 124 : end.code;

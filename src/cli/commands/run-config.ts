import type { DomainSpec, PvmConfig } from '../../api/config.js';
import { loadConfigFile } from '../../api/config-file.js';
import { PvmError } from '../../core/errors.js';
import { consoleSink } from '../../host/console-sink.js';
import { createVmWithDevices, type DomainWithDevices, SwitchRegistry } from '../../host/devices.js';
import { NodeDomainHost } from '../../host/domain-host.js';
import type { DomainEnd } from '../../hypervisor/domain.js';
import { type CliContext, ExitStatus, endStatus } from '../context.js';
import { DEFAULT_GUEST } from '../default-guest.js';
import { readImage } from '../host.js';
import { DEFAULT_APPEND, DEFAULT_FIRMWARE } from './run-vm.js';

/** Flags of `pvm run` that describe one VM; a config file describes its domains itself. */
const PER_VM_FLAGS = [
  'kernel',
  'initrd',
  'append',
  'smp',
  'mode',
  'firmware',
  'memory',
  'disk',
  'net',
  'rng',
  'balloon',
  'console',
  'maxInstructions',
  'stats',
  'statsJson',
] as const;

/**
 * `pvm run CONFIG.yaml|json`: builds every domain of the file (devices from its disks, nets,
 * rng, balloon; NICs on the file's switches, shared by all domains of this process) and runs
 * them together in this process, each console where its `console` says (`prefix`, the
 * default for several domains: lines led by `name| `), until all have ended. Exit status 0 when
 * every domain powered off, else the status of the first one that did not (in the order they
 * ended). Ctrl-C / SIGTERM stop them all (130). A bad file: one line per problem, exit 2.
 */
export async function runConfigCommand(
  file: string,
  flags: { deterministic?: boolean } & Partial<Record<(typeof PER_VM_FLAGS)[number], unknown>>,
  ctx: CliContext,
): Promise<number> {
  for (const f of PER_VM_FLAGS) {
    if (flags[f] !== undefined)
      throw new PvmError(
        'usage',
        `--${f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} cannot be used with a config file (set it in ${file})`,
      );
  }
  const config: PvmConfig = await loadConfigFile(file);
  const switches = new SwitchRegistry(config.switches);
  const out = { write: (c: Uint8Array | string) => ctx.io.stdout(c) };
  const built: {
    spec: DomainSpec;
    vm: DomainWithDevices;
    host: NodeDomainHost;
    sink: ReturnType<typeof consoleSink>;
  }[] = [];
  try {
    for (const spec of config.domains) {
      const kernel = readImage(spec.kernel ?? DEFAULT_GUEST, `${spec.name}: kernel`);
      const initrd = spec.initrd !== undefined ? readImage(spec.initrd, `${spec.name}: initrd`) : undefined;
      const firmware =
        spec.mode === 'full' ? readImage(spec.firmware ?? DEFAULT_FIRMWARE, `${spec.name}: firmware`) : undefined;
      const sink = consoleSink(spec.console, spec.name, out);
      const host = new NodeDomainHost((b) => sink.write(b));
      const vm = await createVmWithDevices(
        {
          mode: spec.mode,
          harts: spec.smp,
          memory: spec.memory,
          kernel,
          ...(initrd ? { initrd } : {}),
          ...(firmware ? { firmware } : {}),
          cmdline: spec.append ?? DEFAULT_APPEND,
          ...(flags.deterministic
            ? { time: 'instret' as const }
            : { wallClockNs: () => BigInt(Date.now()) * 1_000_000n }),
        },
        spec,
        host,
        { switches },
      );
      built.push({ spec, vm, host, sink });
    }
  } catch (e) {
    for (const b of built) {
      await b.vm.close();
      await b.sink.close();
    }
    throw e;
  }

  const stopAll = () => {
    for (const b of built) {
      b.vm.domain.stop(130);
      b.host.wake();
    }
  };
  process.on('SIGINT', stopAll);
  process.on('SIGTERM', stopAll);
  let status: number | null = null;
  try {
    await Promise.all(
      built.map(async (b) => {
        let end: DomainEnd;
        try {
          end = await b.vm.domain.run();
        } finally {
          b.host.flush();
          await b.vm.close();
          await b.sink.close();
        }
        const s = endStatus(end);
        if (s !== 0) {
          ctx.io.stderr(`pvm: ${b.spec.name}: ${end.kind === 'fail' ? end.why : `stopped (${s})`}`);
          status ??= s;
        }
      }),
    );
  } finally {
    process.off('SIGINT', stopAll);
    process.off('SIGTERM', stopAll);
  }
  return status ?? ExitStatus.OK;
}

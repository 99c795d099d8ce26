import { ALL_EXTENSIONS, type HartExtensions, isaExtensions, isaString } from '../cpu/isa.js';
import { Fdt, type FdtNode } from './fdt.js';
import { MemMap, PlicSource, TIMEBASE_HZ } from './memmap.js';
/** ns16550a input clock, as on QEMU virt. */
export const UART_CLOCK_HZ = 3_686_400;

export interface VirtDtOptions {
  /** Number of harts (cpu@0 .. cpu@N-1). */
  harts: number;
  /** RAM size in bytes (RAM starts at MemMap.RAM.base). */
  ramSize: number;
  /** Kernel command line (`/chosen/bootargs`); omitted when undefined. */
  bootargs?: string;
  /** Initrd location in guest-physical memory ([start, end)). */
  initrd?: { start: number; end: number };
  /**
   * Which devices to describe (default: all true). `virtio` is the number of
   * slots from slot 0, or the list of slot numbers (default: all 8, as QEMU).
   */
  clint?: boolean;
  plic?: boolean;
  uart?: boolean;
  test?: boolean;
  rtc?: boolean;
  virtio?: number | readonly number[];
  /** `mmu-type` of each hart (default riscv,sv48). */
  mmuType?: string;
  /**
   * The optional extensions the harts implement (src/cpu/isa.ts; default all): what
   * `riscv,isa` (the only property Linux 6.1 reads) and `riscv,isa-extensions` list.
   */
  extensions?: Readonly<HartExtensions>;
  /** Add or change nodes before the tree is returned (e.g. a `/hypervisor` node). */
  extend?: (fdt: Fdt, handles: VirtDtHandles) => void;
}

/** Phandles of the nodes other nodes point to. */
export interface VirtDtHandles {
  /** `cpu@N/interrupt-controller` of each hart. */
  intc: number[];
  /** The PLIC (interrupt-parent of devices); undefined when the PLIC is omitted. */
  plic: number | undefined;
  /** The test/syscon node; undefined when omitted. */
  test: number | undefined;
}

const hexAddr = (n: number) => n.toString(16);

/**
 * The device tree of the virt board, shaped like the one QEMU 7.2's `virt`
 * machine generates (hw/riscv/virt.c), so Linux and OpenSBI find the same
 * nodes: /cpus with cpu-map, /memory, /soc with clint, plic, serial, test
 * (plus /poweroff and /reboot syscon nodes), rtc and virtio_mmio slots, and
 * /chosen with bootargs, stdout-path and the initrd range.
 */
export function buildVirtDt(opts: VirtDtOptions): { fdt: Fdt; handles: VirtDtHandles } {
  const harts = opts.harts;
  if (!Number.isInteger(harts) || harts < 1) throw new Error(`harts must be a positive integer, got ${harts}`);
  const want = {
    clint: opts.clint ?? true,
    plic: opts.plic ?? true,
    uart: opts.uart ?? true,
    test: opts.test ?? true,
    rtc: opts.rtc ?? true,
    virtio: opts.virtio ?? MemMap.VIRTIO.count,
  };
  const fdt = new Fdt();
  const root = fdt.root;
  root.u32('#address-cells', 2).u32('#size-cells', 2).string('compatible', 'riscv-virtio');
  root.string('model', 'riscv-virtio,pvm');

  const chosen = root.addNode('chosen');

  // Memory.
  const ramBase = MemMap.RAM.base;
  root
    .addNode(`memory@${hexAddr(ramBase)}`)
    .string('device_type', 'memory')
    .u64('reg', ramBase, opts.ramSize);

  // CPUs.
  const cpus = root.addNode('cpus');
  cpus.u32('#address-cells', 1).u32('#size-cells', 0).u32('timebase-frequency', TIMEBASE_HZ);
  const intc: number[] = [];
  const cpuNodes: FdtNode[] = [];
  const ext = opts.extensions ?? ALL_EXTENSIONS;
  for (let i = 0; i < harts; i++) {
    const cpu = cpus.addNode(`cpu@${i}`);
    cpu.phandle();
    cpu
      .string('device_type', 'cpu')
      .u32('reg', i)
      .string('status', 'okay')
      .string('compatible', 'riscv')
      .string('riscv,isa', isaString(ext))
      .string('riscv,isa-base', 'rv64i')
      .strings('riscv,isa-extensions', isaExtensions(ext))
      .string('mmu-type', opts.mmuType ?? 'riscv,sv48');
    const ic = cpu.addNode('interrupt-controller');
    ic.u32('#interrupt-cells', 1).empty('interrupt-controller').string('compatible', 'riscv,cpu-intc');
    intc.push(ic.phandle());
    cpuNodes.push(cpu);
  }
  const cluster = cpus.addNode('cpu-map').addNode('cluster0');
  cpuNodes.forEach((cpu, i) => {
    cluster.addNode(`core${i}`).u32('cpu', cpu.phandle());
  });

  // SoC.
  const soc = root.addNode('soc');
  soc.u32('#address-cells', 2).u32('#size-cells', 2).string('compatible', 'simple-bus').empty('ranges');
  const reg = (n: FdtNode, r: { base: number; size: number }) => n.u64('reg', r.base, r.size);

  if (want.clint) {
    const n = soc.addNode(`clint@${hexAddr(MemMap.CLINT.base)}`);
    n.strings('compatible', ['sifive,clint0', 'riscv,clint0']);
    reg(n, MemMap.CLINT);
    // Per hart: machine software interrupt (3) and machine timer interrupt (7).
    n.u32('interrupts-extended', ...intc.flatMap((h) => [h, 3, h, 7]));
  }

  let plic: number | undefined;
  if (want.plic) {
    const n = soc.addNode(`plic@${hexAddr(MemMap.PLIC.base)}`);
    plic = n.phandle();
    n.u32('#interrupt-cells', 1).u32('#address-cells', 0);
    n.strings('compatible', ['sifive,plic-1.0.0', 'riscv,plic0']);
    n.empty('interrupt-controller');
    // Contexts 2N (M-mode, external interrupt 11) and 2N+1 (S-mode, 9).
    n.u32('interrupts-extended', ...intc.flatMap((h) => [h, 11, h, 9]));
    reg(n, MemMap.PLIC);
    n.u32('riscv,ndev', PlicSource.PLIC_SOURCES - 1);
  }
  const irqOf = (n: FdtNode, irq: number) => {
    if (plic !== undefined) n.u32('interrupts', irq).u32('interrupt-parent', plic);
  };

  const slots =
    typeof want.virtio === 'number'
      ? Array.from({ length: want.virtio }, (_, i) => i)
      : [...want.virtio].sort((a, b) => a - b);
  for (const i of slots) {
    if (!Number.isInteger(i) || i < 0 || i >= MemMap.VIRTIO.count) throw new Error(`no virtio slot ${i}`);
    const base = MemMap.VIRTIO.base + i * MemMap.VIRTIO.size;
    const n = soc.addNode(`virtio_mmio@${hexAddr(base)}`);
    n.string('compatible', 'virtio,mmio');
    reg(n, { base, size: MemMap.VIRTIO.size });
    irqOf(n, PlicSource.VIRTIO_BASE + i);
  }

  let test: number | undefined;
  if (want.test) {
    const n = soc.addNode(`test@${hexAddr(MemMap.TEST.base)}`);
    test = n.phandle();
    n.strings('compatible', ['sifive,test1', 'sifive,test0', 'syscon']);
    reg(n, MemMap.TEST);
    root
      .addNode('poweroff')
      .string('compatible', 'syscon-poweroff')
      .u32('regmap', test)
      .u32('offset', 0)
      .u32('value', 0x5555);
    root
      .addNode('reboot')
      .string('compatible', 'syscon-reboot')
      .u32('regmap', test)
      .u32('offset', 0)
      .u32('value', 0x7777);
  }

  if (want.rtc) {
    const n = soc.addNode(`rtc@${hexAddr(MemMap.RTC.base)}`);
    n.string('compatible', 'google,goldfish-rtc');
    reg(n, MemMap.RTC);
    irqOf(n, PlicSource.RTC);
  }

  if (want.uart) {
    const n = soc.addNode(`serial@${hexAddr(MemMap.UART0.base)}`);
    n.string('compatible', 'ns16550a');
    reg(n, MemMap.UART0);
    n.u32('clock-frequency', UART_CLOCK_HZ);
    irqOf(n, PlicSource.UART0);
    chosen.string('stdout-path', `/soc/serial@${hexAddr(MemMap.UART0.base)}`);
  }

  if (opts.bootargs !== undefined) chosen.string('bootargs', opts.bootargs);
  if (opts.initrd !== undefined) {
    chosen.u64('linux,initrd-start', opts.initrd.start);
    chosen.u64('linux,initrd-end', opts.initrd.end);
  }

  const handles: VirtDtHandles = { intc, plic, test };
  opts.extend?.(fdt, handles);
  return { fdt, handles };
}

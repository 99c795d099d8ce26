import { ByteQueue } from '../core/byte-queue.js';
import type { StateCodec } from '../core/state.js';
import type { MmioDevice } from './bus.js';
import type { IrqLine } from './irq.js';

/** ns16550a register offsets (reg-shift 0) and bits, names as in Linux's serial_reg.h. */
export const UartReg = {
  RBR_THR_DLL: 0,
  IER_DLM: 1,
  IIR_FCR: 2,
  LCR: 3,
  MCR: 4,
  LSR: 5,
  MSR: 6,
  SCR: 7,
} as const;

const IER_RDI = 0x01;
const IER_THRI = 0x02;
const IER_RLSI = 0x04;
const IER_MSI = 0x08;

const IIR_NO_INT = 0x01;
const IIR_MSI = 0x00;
const IIR_THRI = 0x02;
const IIR_RDI = 0x04;
const IIR_RLSI = 0x06;
const IIR_CTI = 0x0c;
const IIR_FIFO = 0xc0;

const FCR_FE = 0x01;
const FCR_RFR = 0x02;
const FCR_XFR = 0x04;

const LCR_DLAB = 0x80;

const MCR_DTR = 0x01;
const MCR_RTS = 0x02;
const MCR_OUT1 = 0x04;
const MCR_OUT2 = 0x08;
const MCR_LOOP = 0x10;

const LSR_DR = 0x01;
const LSR_OE = 0x02;
const LSR_BI = 0x10;
const LSR_THRE = 0x20;
const LSR_TEMT = 0x40;
const LSR_INT_ANY = 0x1e;

const MSR_ANY_DELTA = 0x0f;
const MSR_CTS = 0x10;
const MSR_DSR = 0x20;
const MSR_RI = 0x40;
const MSR_DCD = 0x80;

/** Host-side receive buffer: bytes pushed beyond this are dropped (and set LSR.OE). */
const RX_CAPACITY = 64 * 1024;

export interface UartOptions {
  /** Called for every byte the guest transmits. */
  onOutput: (byte: number) => void;
  /** Interrupt controller and source number (PLIC, PlicSource.UART0 = 10 on virt). */
  irq?: IrqLine;
  irqNum?: number;
}

/**
 * ns16550a UART, as much of it as Linux's 8250 driver and OpenSBI use, after
 * QEMU's hw/char/serial.c. Transmission is instantaneous (THR is empty again
 * as soon as it is written, so the THRE interrupt re-arms at once); the
 * receive FIFO is a host-side queue of up to 64 KiB. Interrupt priority
 * (IIR) as in the 16550 datasheet: line status > received data / timeout >
 * THR empty > modem status. With FIFOs on and fewer bytes than the trigger
 * level, the character-timeout interrupt is reported at once instead of
 * after four character times. The interrupt line is driven where QEMU's
 * serial_update_irq drives it (every register access that can change it),
 * which matters with the virt board's 'qemu' PLIC gateway.
 */
export class Uart16550 implements MmioDevice {
  readonly name = 'uart';
  private readonly onOutput: (byte: number) => void;
  private readonly irq: IrqLine | undefined;
  private readonly irqNum: number;

  private ier = 0;
  private iir = IIR_NO_INT;
  private fcr = 0;
  private lcr = 0;
  private mcr = MCR_OUT2;
  private lsr = LSR_TEMT | LSR_THRE;
  private msr = MSR_DCD | MSR_DSR | MSR_CTS;
  private scr = 0;
  private dll = 0;
  private dlm = 0;
  private thrIpending = false;
  private itl = 1;
  private irqLevel = false;

  /** The receive queue; it takes memory only once the host sends input. */
  private readonly rx = new ByteQueue(RX_CAPACITY);

  constructor(opts: UartOptions) {
    this.onOutput = opts.onOutput;
    this.irq = opts.irq;
    this.irqNum = opts.irqNum ?? 10;
  }

  /** Device reset: registers to their power-on values, receive queue emptied, interrupt lowered. */
  reset(): void {
    this.ier = 0;
    this.iir = IIR_NO_INT;
    this.fcr = 0;
    this.lcr = 0;
    this.mcr = MCR_OUT2;
    this.lsr = LSR_TEMT | LSR_THRE;
    this.msr = MSR_DCD | MSR_DSR | MSR_CTS;
    this.scr = 0;
    this.dll = 0;
    this.dlm = 0;
    this.thrIpending = false;
    this.itl = 1;
    this.rx.clear();
    this.updateIrq();
  }

  /** Queue bytes for the guest to read. Returns how many were accepted. */
  pushInput(bytes: Uint8Array | readonly number[]): number {
    const n = this.rx.push(bytes);
    if (n < bytes.length) this.lsr |= LSR_OE;
    if (this.rx.length > 0) this.lsr |= LSR_DR;
    this.updateIrq();
    return n;
  }

  /** Snapshots (src/machine/snapshot.ts). */
  saveState(): UartState {
    const rx = this.rx.peek(this.rx.length);
    return {
      regs: Uint8Array.of(
        this.ier,
        this.iir,
        this.fcr,
        this.lcr,
        this.mcr,
        this.lsr,
        this.msr,
        this.scr,
        this.dll,
        this.dlm,
      ),
      thrIpending: this.thrIpending,
      itl: this.itl,
      irqLevel: this.irqLevel,
      rx,
    };
  }

  /** Load a state read by uartStateCodec. */
  loadState(s: UartState): void {
    [this.ier, this.iir, this.fcr, this.lcr, this.mcr, this.lsr, this.msr, this.scr, this.dll, this.dlm] =
      s.regs as unknown as number[];
    this.thrIpending = s.thrIpending;
    this.itl = s.itl;
    this.irqLevel = s.irqLevel;
    this.rx.clear();
    this.rx.push(s.rx);
    this.irq?.setLevel(this.irqNum, this.irqLevel);
  }

  /** Bytes waiting to be read by the guest. */
  get pendingInput(): number {
    return this.rx.length;
  }

  /** The interrupt output level (tests, diagnostics). */
  get interruptPending(): boolean {
    return this.irqLevel;
  }

  private popRx(): number {
    if (this.rx.length === 0) return 0;
    const b = this.rx.shift();
    if (this.rx.length === 0) this.lsr &= ~(LSR_DR | LSR_BI);
    return b;
  }

  private updateIrq(): void {
    let id = IIR_NO_INT;
    if (this.ier & IER_RLSI && this.lsr & LSR_INT_ANY) id = IIR_RLSI;
    else if (this.ier & IER_RDI && this.lsr & LSR_DR)
      id = this.fcr & FCR_FE && this.rx.length < this.itl ? IIR_CTI : IIR_RDI;
    else if (this.ier & IER_THRI && this.thrIpending) id = IIR_THRI;
    else if (this.ier & IER_MSI && this.msr & MSR_ANY_DELTA) id = IIR_MSI;
    this.iir = id | (this.iir & 0xf0);
    const level = id !== IIR_NO_INT;
    // As QEMU's serial_update_irq, every update while an interrupt is due drives the line again
    // (a new request for the virt board's 'qemu' PLIC gateway; nothing new for a level one).
    if (level || this.irqLevel) this.irq?.setLevel(this.irqNum, level);
    this.irqLevel = level;
  }

  private transmit(byte: number): void {
    this.thrIpending = false;
    this.lsr &= ~(LSR_THRE | LSR_TEMT);
    if (this.mcr & MCR_LOOP) {
      // Loopback: the byte comes back on the receive side.
      if (this.rx.push([byte]) === 1) {
        this.lsr |= LSR_DR;
      } else {
        this.lsr |= LSR_OE;
      }
    } else {
      this.onOutput(byte);
    }
    this.lsr |= LSR_THRE | LSR_TEMT;
    this.thrIpending = true;
    this.updateIrq();
  }

  read(offset: number, _size: 1 | 2 | 4): number {
    switch (offset) {
      case UartReg.RBR_THR_DLL: {
        if (this.lcr & LCR_DLAB) return this.dll;
        const b = this.popRx();
        this.updateIrq();
        return b;
      }
      case UartReg.IER_DLM:
        return this.lcr & LCR_DLAB ? this.dlm : this.ier;
      case UartReg.IIR_FCR: {
        const v = this.iir;
        if ((v & 0x0f) === IIR_THRI) {
          this.thrIpending = false;
          this.updateIrq();
        }
        return v;
      }
      case UartReg.LCR:
        return this.lcr;
      case UartReg.MCR:
        return this.mcr;
      case UartReg.LSR: {
        const v = this.lsr;
        if (this.lsr & (LSR_BI | LSR_OE)) {
          this.lsr &= ~(LSR_BI | LSR_OE);
          this.updateIrq();
        }
        return v;
      }
      case UartReg.MSR: {
        if (this.mcr & MCR_LOOP) {
          // Loopback: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD.
          let v = 0;
          if (this.mcr & MCR_DTR) v |= MSR_DSR;
          if (this.mcr & MCR_RTS) v |= MSR_CTS;
          if (this.mcr & MCR_OUT1) v |= MSR_RI;
          if (this.mcr & MCR_OUT2) v |= MSR_DCD;
          return v;
        }
        const v = this.msr;
        if (this.msr & MSR_ANY_DELTA) {
          this.msr &= ~MSR_ANY_DELTA;
          this.updateIrq();
        }
        return v;
      }
      case UartReg.SCR:
        return this.scr;
      default:
        return 0;
    }
  }

  write(offset: number, _size: 1 | 2 | 4, value: number): void {
    const v = value & 0xff;
    switch (offset) {
      case UartReg.RBR_THR_DLL:
        if (this.lcr & LCR_DLAB) this.dll = v;
        else this.transmit(v);
        return;
      case UartReg.IER_DLM: {
        if (this.lcr & LCR_DLAB) {
          this.dlm = v;
          return;
        }
        const changed = (this.ier ^ v) & 0x0f;
        this.ier = v & 0x0f;
        if (changed & IER_THRI) this.thrIpending = (this.ier & IER_THRI) !== 0 && (this.lsr & LSR_THRE) !== 0;
        if (changed) this.updateIrq(); // as QEMU: rewriting the same IER asks nothing new
        return;
      }
      case UartReg.IIR_FCR: {
        let f = v;
        if ((f ^ this.fcr) & FCR_FE) f |= FCR_RFR | FCR_XFR;
        if (f & FCR_RFR) {
          this.rx.clear();
          this.lsr &= ~(LSR_DR | LSR_BI);
        }
        if (f & FCR_XFR) {
          this.lsr |= LSR_THRE | LSR_TEMT;
          this.thrIpending = true;
        }
        this.fcr = f & 0xc9;
        if (this.fcr & FCR_FE) {
          this.iir |= IIR_FIFO;
          this.itl = [1, 4, 8, 14][this.fcr >>> 6]!;
        } else {
          this.iir &= ~IIR_FIFO;
          this.itl = 1;
        }
        this.updateIrq();
        return;
      }
      case UartReg.LCR:
        this.lcr = v;
        return;
      case UartReg.MCR:
        this.mcr = v & 0x1f;
        return;
      case UartReg.LSR:
      case UartReg.MSR:
        return; // read-only (factory test registers on real parts)
      case UartReg.SCR:
        this.scr = v;
        return;
    }
  }
}

/** The UART's saved state: its ten byte registers (IER IIR FCR LCR MCR LSR MSR SCR DLL DLM), interrupt state, receive queue. */
export interface UartState {
  readonly regs: Uint8Array;
  readonly thrIpending: boolean;
  /** Receive FIFO trigger level: 1, 4, 8 or 14. */
  readonly itl: number;
  readonly irqLevel: boolean;
  /** Bytes received and not yet read, oldest first. */
  readonly rx: Uint8Array;
}

const UART_REGS = 10;

export const uartStateCodec: StateCodec<UartState> = {
  write(w, s) {
    w.raw(s.regs).bool(s.thrIpending).u8(s.itl).bool(s.irqLevel).bytes(s.rx);
  },
  read(r) {
    return {
      regs: r.raw(UART_REGS, 'registers').slice(),
      thrIpending: r.bool('THR empty interrupt pending'),
      itl: r.oneOf('FIFO trigger level', [1, 4, 8, 14]),
      irqLevel: r.bool('interrupt level'),
      rx: r.bytes('receive queue', RX_CAPACITY).slice(),
    };
  },
};

/**
 * Reader for the committed reference vectors (vectors/fpvectors.txt.gz, produced by vectors/gen.sh from a
 * qemu-system-riscv64 run). One line per executed instruction:
 *   insn frm f10 f11 f12 x10 f10' x10' fflags   (hex; fflags "x" = illegal instruction)
 * Used by the tests only (no Node APIs here: the caller passes the decompressed text).
 */
export interface FpVector {
  insn: number;
  frm: number;
  f10: bigint;
  f11: bigint;
  f12: bigint;
  x10: bigint;
  outF: bigint;
  outX: bigint;
  /** -1 = illegal instruction */
  flags: number;
  line: number;
}

export function parseVectors(text: string): FpVector[] {
  const out: FpVector[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!.trim();
    if (l === '') continue;
    const p = l.split(' ');
    if (p.length !== 9) throw new Error(`fpvectors line ${i + 1}: expected 9 fields, got ${p.length}`);
    out.push({
      insn: Number.parseInt(p[0]!, 16),
      frm: Number.parseInt(p[1]!, 16),
      f10: BigInt(`0x${p[2]}`),
      f11: BigInt(`0x${p[3]}`),
      f12: BigInt(`0x${p[4]}`),
      x10: BigInt(`0x${p[5]}`),
      outF: BigInt(`0x${p[6]}`),
      outX: BigInt(`0x${p[7]}`),
      flags: p[8] === 'x' ? -1 : Number.parseInt(p[8]!, 16),
      line: i + 1,
    });
  }
  return out;
}

const NAMES: Record<number, string> = {
  0: 'fadd.s',
  1: 'fadd.d',
  4: 'fsub.s',
  5: 'fsub.d',
  8: 'fmul.s',
  9: 'fmul.d',
  12: 'fdiv.s',
  13: 'fdiv.d',
  44: 'fsqrt.s',
  45: 'fsqrt.d',
  16: 'fsgnj.s',
  17: 'fsgnj.d',
  20: 'fminmax.s',
  21: 'fminmax.d',
  32: 'fcvt.s.d',
  33: 'fcvt.d.s',
  80: 'fcmp.s',
  81: 'fcmp.d',
  96: 'fcvt.int.s',
  97: 'fcvt.int.d',
  104: 'fcvt.s.int',
  105: 'fcvt.d.int',
  112: 'fmv.x.w/fclass.s',
  113: 'fmv.x.d/fclass.d',
  120: 'fmv.w.x',
  121: 'fmv.d.x',
};

const FMA_NAMES: Record<number, string> = { 67: 'fmadd', 71: 'fmsub', 75: 'fnmsub', 79: 'fnmadd' };

/** A short name for the instruction group of an encoding (for test reports). */
export function vectorName(insn: number): string {
  const op = insn & 0x7f;
  if (op !== 0x53) return `${FMA_NAMES[op] ?? 'op?'}.${(insn >>> 25) & 1 ? 'd' : 's'}`;
  return NAMES[insn >>> 25] ?? `op-fp ${(insn >>> 25).toString(16)}`;
}

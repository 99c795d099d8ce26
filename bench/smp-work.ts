/**
 * The workload of the SMP benchmarks (bench/smp.ts in Node, bench/browser-smp.ts in the tab):
 * two busybox shell loops of `loops` iterations at once in the Linux guest, which times them
 * itself (/proc/uptime: guest time follows the host clock) and prints `smp-bench START END`.
 */
export const smpWork = (loops: number): string =>
  `w(){ i=0; while test $i -lt ${loops}; do i=$((i+1)); done; }; read a x </proc/uptime; w & w & wait; read b x </proc/uptime; echo smp-bench $a $b`;

/** The guest's answer: uptime before and after, in seconds. */
export const SMP_RESULT = /smp-bench ([\d.]+) ([\d.]+)/;

/** The guest's command line running `work` (pvm.run takes %20 for spaces). */
export const smpCmdline = (work: string): string => `console=ttyS0 quiet pvm.run=${work.replaceAll(' ', '%20')}`;

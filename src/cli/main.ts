/** Entry point of the `pvm` command; returns the process exit status. */
export async function main(argv: string[]): Promise<number> {
  process.stderr.write(`pvm: not built yet (${argv.length} args)\n`);
  return 2;
}

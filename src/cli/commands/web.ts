import { type Command, InvalidArgumentError } from 'commander';
import type { CliContext } from '../context.js';

const port = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port is 0 to 65535');
  return n;
};

/** `pvm web [--port N]`: serves pvm-in-a-tab (dist/web) on loopback until interrupted. */
export function registerWeb(program: Command, ctx: CliContext): void {
  program
    .command('web')
    .description('serve pvm in a browser tab (the whole hypervisor runs in the page) on 127.0.0.1')
    .option('--port <n>', 'TCP port (0: any free one)', port, 8080)
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .action(async (flags: { port: number; host: string }) => {
      const { startWebSite } = await import('../../server/web-site.js');
      const site = await startWebSite({ host: flags.host, port: flags.port });
      ctx.io.stdout(`pvm in a tab: http://${site.host}:${site.port}/ (Ctrl-C stops)\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await site.close();
    });
}

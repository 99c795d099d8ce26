import type { PvmClient } from '../client.js';

/** Ctrl-] detaches, as in telnet and `virsh console`. */
export const ESCAPE_BYTE = 0x1d;

/**
 * `pvm console`: the domain's console on this terminal. The terminal is put
 * in raw mode (when it is one) so keys reach the guest as typed; Ctrl-]
 * detaches and leaves the domain running. Resolves when detached or when the
 * daemon closes the console (the domain was destroyed).
 */
export async function runConsole(
  client: PvmClient,
  domain: string,
  options: {
    readOnly: boolean;
    stdin: NodeJS.ReadStream | NodeJS.ReadableStream;
    write: (data: Uint8Array | string) => void;
    note: (text: string) => void;
  },
): Promise<'detached' | 'closed'> {
  const stream = await client.attachConsole(domain, { write: !options.readOnly });
  const stdin = options.stdin as NodeJS.ReadStream;
  const tty = stdin.isTTY === true;
  options.note(`connected to domain ${domain}${options.readOnly ? ' (read-only)' : ''}; escape character is ^]`);
  if (tty) stdin.setRawMode(true);
  return new Promise((resolve) => {
    let finished = false;
    const finish = (how: 'detached' | 'closed'): void => {
      if (finished) return;
      finished = true;
      stdin.off('data', onInput);
      stdin.off('end', onEnd);
      if (tty) stdin.setRawMode(false);
      stdin.pause();
      stream.destroy();
      options.note(how === 'detached' ? `\r\ndetached from domain ${domain}` : `\r\nconsole of ${domain} closed`);
      resolve(how);
    };
    const onInput = (data: Buffer): void => {
      const esc = data.indexOf(ESCAPE_BYTE);
      if (esc >= 0) {
        if (esc > 0 && !options.readOnly) stream.write(data.subarray(0, esc));
        finish('detached');
      } else if (!options.readOnly) stream.write(data);
    };
    const onEnd = (): void => finish('detached');
    stream.on('data', (d: Buffer) => options.write(new Uint8Array(d)));
    stream.on('close', () => finish('closed'));
    stream.on('error', () => finish('closed'));
    stdin.on('data', onInput);
    stdin.on('end', onEnd);
    stdin.resume();
  });
}

import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';

/**
 * An xterm.js terminal for a guest console. It uses xterm's DOM renderer (the default), so the
 * screen is text in the page: tests, find-in-page and screen readers read what the guest printed.
 * `text()` gives the whole buffer (scrollback included) as plain text.
 */
export class ConsoleView {
  readonly term: Terminal;
  private readonly fit = new FitAddon();
  private readonly observer: ResizeObserver;

  constructor(parent: HTMLElement) {
    this.term = new Terminal({
      convertEol: false,
      scrollback: 5000,
      fontSize: 13,
      fontFamily: 'ui-monospace, "DejaVu Sans Mono", monospace',
      screenReaderMode: false,
      theme: { background: '#111827' },
    });
    this.term.loadAddon(this.fit);
    this.term.open(parent);
    this.observer = new ResizeObserver(() => this.resize());
    this.observer.observe(parent);
    this.resize();
  }

  resize(): void {
    try {
      this.fit.fit();
    } catch {
      // not laid out yet
    }
  }

  write(data: Uint8Array | string): void {
    this.term.write(data);
  }

  /** Every line of the buffer as text, trailing blanks trimmed. */
  text(): string {
    const b = this.term.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < b.length; i++) lines.push(b.getLine(i)?.translateToString(true) ?? '');
    while (lines.length > 0 && lines.at(-1) === '') lines.pop();
    return lines.join('\n');
  }

  dispose(): void {
    this.observer.disconnect();
    this.term.dispose();
  }
}

import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino';

export type { Logger };

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export interface LoggerConfig {
  readonly level?: LogLevel;
  /** A file to append JSON lines to; default standard error. */
  readonly file?: string;
  /** Any writable stream (tests collect lines here). */
  readonly stream?: DestinationStream;
  readonly name?: string;
}

/**
 * Structured logs: one JSON object per line with `level`, `time`, `msg` and
 * fields. Errors are logged through the `err` field; their stacks stay in the
 * log, never in what a client is sent.
 */
export function createLogger(config: LoggerConfig = {}): Logger {
  const options: LoggerOptions = {
    level: config.level ?? 'info',
    name: config.name ?? 'pvm',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  const dest = config.stream ?? pino.destination({ dest: config.file ?? 2, append: true, mkdir: true, sync: true });
  return pino(options, dest);
}

/** A logger that drops everything (library users who do not want logs). */
export const silentLogger = (): Logger => pino({ level: 'silent' });

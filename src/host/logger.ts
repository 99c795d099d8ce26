import { mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino';

import { PvmError } from '../core/errors.js';
import type { LogLevel } from './log-level.js';

export { LOG_LEVELS, type LogLevel } from './log-level.js';
export type { Logger };

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
  if (config.stream) return pino(options, config.stream);
  return pino(options, pino.destination({ dest: config.file ? openLogFile(config.file) : 2, sync: true }));
}

/**
 * Opens (creating it and its directory) a log file for appending; a path that cannot be opened is a
 * one-line io error for the user, not a Node exception reported as a bug in pvm.
 */
function openLogFile(file: string): number {
  try {
    mkdirSync(dirname(file), { recursive: true });
    return openSync(file, 'a');
  } catch (e) {
    throw new PvmError('io', `cannot open log file ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}

/** A logger that drops everything (library users who do not want logs). */
export const silentLogger = (): Logger => pino({ level: 'silent' });

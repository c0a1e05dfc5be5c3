/**
 * Structured JSON logging (pino) with controller-runtime's keys: `controller`,
 * `namespace`, `name`, `reconcileID`, and a stable `event` name in snake_case on
 * every line that records something happening (`leader_elected`, `watch_restarted`,
 * ...), so logs can be queried by event rather than by message text.
 */
import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export function createLogger(options: { level?: LogLevel; name?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { logger: options.name ?? 'manyfold' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? process.stdout,
  );
}

/** A logger that drops everything (tests, library defaults). */
export const silentLogger: Logger = pino({ level: 'silent' });

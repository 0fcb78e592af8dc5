// Structured JSON logs (pino). Call-related lines carry `tenant` and `callId` through child loggers.
import { type Logger, pino } from 'pino';

export type { Logger };

export function createLogger(level = 'info', name = 'switchboard'): Logger {
  return pino({ name, level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}

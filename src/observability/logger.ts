// Structured JSON logs. Secrets are redacted by path so a stray log call cannot leak them.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { pid: process.pid, ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        'password',
        '*.password',
        'req.headers.authorization',
        'req.headers.cookie',
        'access_token',
        'refresh_token',
        '*.access_token',
        '*.refresh_token',
        'token',
        '*.token',
      ],
      censor: '[redacted]',
    },
  });
}

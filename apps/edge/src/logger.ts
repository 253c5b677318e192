/** The edge worker's one logger: a line per event, with the time, level, device and class as context. */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

const order: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };
let threshold: LogLevel = 'info';
let prefix = '';

export function configureLogging(options: { level?: LogLevel; device?: string }): void {
  if (options.level) threshold = options.level;
  if (options.device !== undefined) prefix = options.device;
}

export class Logger {
  constructor(private readonly context: string) {}

  error(message: string): void {
    this.write('error', message);
  }
  warn(message: string): void {
    this.write('warn', message);
  }
  info(message: string): void {
    this.write('info', message);
  }
  debug(message: string): void {
    this.write('debug', message);
  }

  private write(level: LogLevel, message: string): void {
    if (order[level] > order[threshold]) return;
    const line = `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} [${prefix ? `${prefix} ` : ''}${this.context}] ${message}\n`;
    (level === 'error' || level === 'warn' ? process.stderr : process.stdout).write(line);
  }
}

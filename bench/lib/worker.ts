/**
 * The child side of the process harness (bench/lib/procs.ts): a process serves named handlers over
 * IPC, sends events, and exits when its parent goes away, so no benchmark process outlives a run.
 */

export type Handler = (params: any) => unknown;

interface CallMessage {
  type: 'call';
  id: number;
  method: string;
  params: unknown;
}

function send(message: unknown): void {
  if (process.connected) process.send!(message);
}

/** The message with its chain of causes (and their codes), which is where a socket error's reason is. */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    if (current instanceof Error) {
      const code = (current as { code?: unknown }).code;
      parts.push(`${current.message}${typeof code === 'string' ? ` [${code}]` : ''}`);
      current = current.cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  return parts.join(' <- caused by: ');
}

function errorInfo(error: unknown): { message: string; stack?: string } {
  const message = describeError(error);
  if (error instanceof Error) return { message, ...(error.stack === undefined ? {} : { stack: `${message}\n${error.stack}` }) };
  return { message };
}

/** The JSON arguments the parent passed (`ForkOptions.args`). */
export function workerArgs<T>(): T {
  return JSON.parse(process.argv[2] ?? 'null') as T;
}

/** Sends an event to the parent (`Proc.on(name, ...)`). */
export function emit(name: string, data?: unknown): void {
  send({ type: 'event', name, data: data ?? null });
}

/**
 * Serves `handlers` and announces `ready` with `info`. A `shutdown` handler is added when absent:
 * it runs `onShutdown` (if given) and exits. An uncaught error is reported to the parent as fatal.
 */
export function serve(handlers: Record<string, Handler>, info: unknown = {}, onShutdown?: () => Promise<void> | void): void {
  if (!process.connected) {
    console.error('this script is a benchmark worker: it runs under bench/lib/procs.ts');
    process.exit(2);
  }
  process.on('disconnect', () => process.exit(0));
  const fatal = (error: unknown) => {
    send({ type: 'fatal', error: errorInfo(error) });
    setTimeout(() => process.exit(1), 50);
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
  const all: Record<string, Handler> = {
    shutdown: async () => {
      await onShutdown?.();
      setTimeout(() => process.exit(0), 10);
      return null;
    },
    ...handlers,
  };
  process.on('message', (message: CallMessage) => {
    if (message?.type !== 'call') return;
    const handler = all[message.method];
    if (handler === undefined) {
      send({ type: 'result', id: message.id, ok: false, error: { message: `no handler "${message.method}"` } });
      return;
    }
    Promise.resolve()
      .then(() => handler(message.params))
      .then(
        (value) => send({ type: 'result', id: message.id, ok: true, value: value ?? null }),
        (error: unknown) => send({ type: 'result', id: message.id, ok: false, error: errorInfo(error) }),
      );
  });
  send({ type: 'ready', info });
}

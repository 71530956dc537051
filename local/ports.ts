import type { Server as HttpServer } from 'node:http';
import { createServer } from 'node:net';

/** A TCP port that was free a moment ago (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Why the local API cannot listen on `port` (on the host its server binds), in one sentence, or
 * undefined if it can: tried by binding it and letting go, so a busy port is reported in
 * milliseconds rather than after DynamoDB Local has started.
 */
export async function portProblem(port: number, host = '127.0.0.1'): Promise<string | undefined> {
  if (port === 0) return undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(port, host, () => server.close(() => resolve()));
    });
    return undefined;
  } catch (error) {
    const problem = listenProblem(error, port);
    if (problem) return problem;
    throw error;
  }
}

/** A failed listen on `port` as one sentence saying what to do, for the causes a user can fix. */
export function listenProblem(error: unknown, port: number): string | undefined {
  const another = port === 4000 ? 4001 : 4000;
  switch ((error as NodeJS.ErrnoException).code) {
    case 'EADDRINUSE':
      return `port ${port} is in use; stop what uses it, or run \`npm start -- --port ${another}\``;
    case 'EACCES':
      return `port ${port} needs more privileges than this user has; run \`npm start -- --port ${another}\``;
    default:
      return undefined;
  }
}

/**
 * Starts `server` on a port the OS picks at bind time (port 0: no window for another process to take
 * it), on the loopback interface only, and returns its base URL (`http://127.0.0.1:<port>`). What the
 * local twins of AWS services (bus, queue, object store) listen with.
 */
export async function listenOnLoopback(server: HttpServer): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return `http://127.0.0.1:${port}`;
}

import type http from 'node:http';

/**
 * The child-process side of a floor server (floor-server.ts): keep-alive as the other servers,
 * the port reported to the parent once listening, and `close` run before exiting when the parent
 * lets go.
 */
export function serveAsFloor(server: http.Server, close: () => void): void {
  server.keepAliveTimeout = 72_000;
  process.on('disconnect', () => {
    close();
    process.exit(0);
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send?.({ type: 'listening', port: typeof address === 'object' && address ? address.port : 0 });
  });
}

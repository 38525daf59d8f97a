// A plain static file server for the tests that need one of their own (a sub-path, no special
// headers, stopped to play offline): folders mounted under URL prefixes, nothing else.

import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json', '.svg': 'image/svg+xml', '.webmanifest': 'application/manifest+json' };

/** The servers not stopped yet: a failed test must not leave one holding the process open. */
const running = new Set();

/**
 * Serves each folder of `mounts` (`[urlPrefix, folder]`, the longest matching prefix wins) on
 * 127.0.0.1:`port` (0: any); `overrides` maps a URL path to the bytes to send instead of the
 * file's. Resolves with the port and `stop()`, which also closes open connections, so the
 * browser finds nobody there.
 * @param {[string, string][]} mounts
 */
export function serveStatic(mounts, { port = 0, overrides = new Map() } = {}) {
  const ordered = [...mounts].sort((a, b) => b[0].length - a[0].length);
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const mount = ordered.find(([prefix]) => path.startsWith(prefix));
    if (!mount) return res.writeHead(404).end();
    let relative = normalize(path.slice(mount[0].length));
    if (relative.startsWith('..')) return res.writeHead(403).end();
    if (relative === '.' || path.endsWith('/')) relative = join(relative, 'index.html');
    try {
      const body = overrides.get(path) ?? readFileSync(join(mount[1], relative));
      res.writeHead(200, { 'content-type': TYPES[extname(relative)] ?? 'application/octet-stream', 'content-length': body.length }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  running.add(server);
  const sockets = new Set();
  server.on('connection', (s) => (sockets.add(s), s.on('close', () => sockets.delete(s))));
  return new Promise((resolve) =>
    server.listen(port, '127.0.0.1', () =>
      resolve({
        port: server.address().port,
        stop: () => new Promise((done) => (running.delete(server), sockets.forEach((s) => s.destroy()), server.close(done))),
      }),
    ),
  );
}

/** Stops every server still running (for a test file's `after`). */
export function stopAllServers() {
  for (const server of running) server.closeAllConnections(), server.close();
  running.clear();
}

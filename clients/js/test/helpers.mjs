// Test helpers: build and run the real `actorlog serve` on loopback, a
// TCP proxy that can cut connections, and polling.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const repoRoot = path.resolve(pkgDir, '..', '..');

let built;

// Whatever ends this process (the end, a failed assertion, the test
// runner's timeout signal) stops the servers it started and removes their
// temporary directories.
const cleanups = new Set();
process.on('exit', () => {
  for (const f of cleanups) {
    try {
      f();
    } catch {
      // best effort
    }
  }
});
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => process.exit(130));

/**
 * The actorlog binary: $ACTORLOG_BIN if set (scripts/ci.sh builds it once),
 * else built from the repository into a temporary directory.
 */
export function actorlogBinary() {
  if (process.env.ACTORLOG_BIN) return process.env.ACTORLOG_BIN;
  if (built) return built;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'actorlog-bin-'));
  const bin = path.join(dir, 'actorlog');
  execFileSync('go', ['build', '-o', bin, './cmd/actorlog'], { cwd: repoRoot, stdio: 'inherit', timeout: 300_000 });
  cleanups.add(() => rmSync(dir, { recursive: true, force: true }));
  built = bin;
  return bin;
}

/**
 * Starts `actorlog serve` on 127.0.0.1 with a fresh data directory (or
 * the given one) and resolves with {url, port, dataDir, stop, kill}.
 */
export async function startServer({ port = 0, dataDir, token, extraArgs = [], keepData = false } = {}) {
  const bin = actorlogBinary();
  const ownData = !dataDir;
  const data = dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'actorlog-data-'));
  const args = ['serve', '--port', String(port), '--host', '127.0.0.1', '--data', data, '--log-level', 'warn', '--shutdown-timeout', '5s', ...extraArgs];
  if (token) args.push('--token', token);
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ACTORLOG_TOKEN: '' } });
  let stderr = '';
  child.stderr.on('data', (b) => { stderr += b; });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  // If this process dies without running its exit handlers (a signal),
  // a watchdog kills the server: no server outlives its test.
  spawn('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${child.pid} 2>/dev/null; do sleep 1; done; kill -KILL ${child.pid} 2>/dev/null`], {
    stdio: 'ignore',
    detached: true,
  }).unref();
  const reap = () => child.kill('SIGKILL');
  cleanups.add(reap);
  exited.then(() => cleanups.delete(reap));
  if (ownData) cleanups.add(() => rmSync(data, { recursive: true, force: true }));

  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`actorlog serve did not start in 20 s; stderr:\n${stderr}`)), 20_000);
    child.stdout.on('data', (b) => {
      out += b;
      // "actorlog listening on http://127.0.0.1:PORT (data DIR)"
      const m = /actorlog listening on (http:\/\/\S+:(\d+))/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`actorlog serve exited (${code ?? signal}) before listening; stderr:\n${stderr}`));
    });
  });
  const realPort = Number(new URL(url).port);

  let stopped = false;
  const finish = async (signal) => {
    if (!stopped) {
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
    }
    return exited;
  };
  return {
    url,
    port: realPort,
    dataDir: data,
    stderr: () => stderr,
    /** SIGTERM: a graceful stop (sockets get 1001). */
    stop: async () => {
      const r = await finish('SIGTERM');
      if (ownData && !keepData) rmSync(data, { recursive: true, force: true });
      return r;
    },
    /** SIGKILL: a crash; the data directory stays for a restart. */
    kill: () => finish('SIGKILL'),
    /** SIGTERM, keeping the data directory for a restart. */
    term: () => finish('SIGTERM'),
  };
}

/**
 * A TCP proxy on 127.0.0.1 in front of target port: cut() destroys every
 * connection through it (a network drop), the listener stays.
 */
export async function startProxy(targetPort) {
  const pairs = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    const pair = { client, upstream };
    pairs.add(pair);
    const end = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = server.address().port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    connections: () => pairs.size,
    cut() {
      for (const { client, upstream } of [...pairs]) {
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
    },
    close() {
      this.cut();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Polls cond every 10 ms until it is truthy, or fails after timeoutMs. */
export async function waitFor(cond, { timeoutMs = 10_000, what = 'condition' } = {}) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A unique actor key per test, so tests never share state. */
export function uniqueKey(prefix = 'k') {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

export { existsSync };

// README.md's "Coming from RivetKit" runs as shown: its client example
// against a fresh server (with its endpoint, then with RIVET_ENDPOINT and
// createClient()), then its actorlog commands on the data directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import * as esbuild from 'esbuild';
import { startServer, repoRoot, actorlog } from './helpers.mjs';

const run = promisify(execFile);
const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
const section = readme.slice(readme.indexOf('\n## Coming from RivetKit\n'), readme.indexOf('\n## Debugging an actor\n'));
const blocks = (lang) => [...section.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);
const endpoint = 'http://127.0.0.1:3001';
// The example runs from a directory under this package, so that it
// imports the installed client.
const scratch = path.resolve(repoRoot, 'clients', 'rivetkit-compat', 'test-artifacts');

async function runExample(source, env) {
  mkdirSync(scratch, { recursive: true });
  const file = path.join(scratch, `readme-example-${process.pid}.mjs`);
  writeFileSync(file, source);
  try {
    const { stdout } = await run(process.execPath, [file], { timeout: 60_000, env: { ...process.env, ...env } });
    return stdout;
  } finally {
    rmSync(file, { force: true });
  }
}

test('the client example of README.md prints what it says, with the endpoint in code or in RIVET_ENDPOINT', async () => {
  assert.ok(section.length > 100, 'README.md has a "Coming from RivetKit" section');
  const [example] = blocks('js');
  assert.ok(example.includes(`createClient('${endpoint}')`), 'the example passes the endpoint to createClient');

  for (const viaEnv of [false, true]) {
    const srv = await startServer({ keepData: true });
    try {
      const source = viaEnv ? example.replace(`createClient('${endpoint}')`, 'createClient()') : example.replaceAll(endpoint, srv.url);
      const out = await runExample(source, viaEnv ? { RIVET_ENDPOINT: srv.url } : {});
      assert.equal(out, '{ count: 5 }\nalice: Hello!\n');
      await srv.term();

      if (!viaEnv) {
        // The shell block: the actorlog commands on the stopped server's data.
        const cmds = blocks('sh')[0].trim().split('\n').map((l) => l.replace(/\s+#.*$/, '').split(/\s+/));
        assert.deepEqual(cmds.map((c) => c.slice(0, 3)), [['actorlog', 'log', 'counter:default'], ['actorlog', 'state', 'chatRoom:lobby']]);
        // One after the other: an offline command holds the directory.
        const outs = [];
        for (const c of cmds) outs.push(await actorlog(...c.slice(1).map((a) => (a === './data' ? srv.dataDir : a)), '--color', 'never'));
        const [log, state] = outs;
        assert.match(log, /countUpdated\s+\{"count":5,/);
        assert.match(state, /"text": "Hello!"/);
        assert.match(state, /"username": "alice"/);
      }
    } finally {
      await srv.stop();
      rmSync(srv.dataDir, { recursive: true, force: true });
    }
  }
});

test("the React example of README.md compiles, and calls what the browser test's page calls", async () => {
  const [tsx] = blocks('tsx');
  assert.ok(tsx.includes("createRivetKit('http://127.0.0.1:3001')"));
  await esbuild.transform(tsx, { loader: 'tsx', jsx: 'automatic' });
  for (const use of ["useActor({ name: 'counter', key: ['default'] })", "useEvent('countUpdated'", 'connection?.increment()']) {
    assert.ok(tsx.includes(use), use);
  }
});

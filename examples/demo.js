#!/usr/bin/env node
/**
 * A sample parent application: spawns `authchart app-server` in a temporary CODEX_HOME, performs the
 * handshake, logs in with external ChatGPT tokens (both protocol generations), reads the account, is
 * refused an API-key login while external auth is active, logs out, and prints the exchange.
 */
'use strict';
const { spawn } = require('node:child_process');
const { mkdtempSync, rmSync, existsSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
const jwt = (payload) => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.sig`;
const claims = (email, plan, accountId) => ({
  email,
  'https://api.openai.com/auth': { chatgpt_plan_type: plan, chatgpt_account_id: accountId },
});

const color = process.stdout.isTTY ? (code, s) => `\x1b[${code}m${s}\x1b[0m` : (_c, s) => s;
const shorten = (line) => line.replace(/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, (t) => `${t.slice(0, 12)}…`);

async function main() {
  const home = mkdtempSync(path.join(os.tmpdir(), 'authchart-demo-'));
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'bin', 'authchart.js'), 'app-server'], {
    env: { ...process.env, CODEX_HOME: home },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const waiting = new Map();
  let buffer = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf('\n')) !== -1) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      console.log(color(32, '  ← ') + shorten(line));
      const msg = JSON.parse(line);
      if ('id' in msg && !('method' in msg) && waiting.has(msg.id)) {
        waiting.get(msg.id)(msg);
        waiting.delete(msg.id);
      }
    }
  });
  let nextId = 0;
  const request = (method, params) =>
    new Promise((resolve) => {
      const id = nextId++;
      const msg = params === undefined ? { id, method } : { id, method, params };
      waiting.set(id, resolve);
      const line = JSON.stringify(msg);
      console.log(color(36, '  → ') + shorten(line));
      child.stdin.write(`${line}\n`);
    });
  const notify = (method) => {
    console.log(color(36, '  → ') + JSON.stringify({ method }));
    child.stdin.write(`${JSON.stringify({ method })}\n`);
  };
  const step = (title) => console.log(`\n${color(1, title)}`);
  // Let notifications that follow a response arrive before the next step prints.
  const settle = () => new Promise((r) => setTimeout(r, 50));

  try {
    step('1. Handshake');
    await request('initialize', { clientInfo: { name: 'demo_parent', title: 'authchart demo', version: '1.0.0' } });
    notify('initialized');

    step('2. External ChatGPT tokens, protocol generation A ({idToken, accessToken})');
    await request('account/login/start', {
      type: 'chatgptAuthTokens',
      idToken: jwt(claims('ada@example.com', 'plus', 'ws-alpha')),
      accessToken: jwt({ scope: 'demo' }),
    });
    await settle();
    await request('account/read', {});

    step('3. External tokens, generation B ({accessToken, chatgptAccountId, chatgptPlanType})');
    await request('account/login/start', {
      type: 'chatgptAuthTokens',
      accessToken: jwt(claims('grace@example.com', 'pro', 'ws-beta')),
      chatgptAccountId: 'ws-beta',
      chatgptPlanType: 'team',
    });
    await settle();
    await request('account/read', {});

    step('4. An API-key login is refused while external auth is active');
    await request('account/login/start', { type: 'apiKey', apiKey: 'sk-demo-not-a-real-key' });

    step('5. Logout clears the external tokens');
    await request('account/logout');
    await settle();
    await request('account/read', {});
    console.log(`\n  auth.json on disk: ${existsSync(path.join(home, 'auth.json')) ? 'yes (unexpected!)' : 'none (external tokens live in memory only)'}`);
  } finally {
    child.stdin.end();
    const code = await new Promise((r) => child.on('exit', r));
    rmSync(home, { recursive: true, force: true });
    console.log(`\napp-server exited with code ${code}`);
    if (code !== 0) process.exitCode = 1;
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

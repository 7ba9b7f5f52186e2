#!/usr/bin/env node
/**
 * A sample parent application built on `authchart/client`. It starts a local mock ChatGPT backend (and a
 * mock token endpoint) on 127.0.0.1, spawns `authchart app-server` in a temporary CODEX_HOME pointed at
 * them, and walks through the account protocol, including the 401 → refresh → retry round trip:
 * with external tokens the app-server asks this parent for new ones; with a managed login it refreshes
 * through the token endpoint itself. Everything it prints is the wire exchange, shortened.
 */
'use strict';
const { createServer } = require('node:http');
const { mkdtempSync, rmSync, existsSync, writeFileSync, readFileSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { AuthchartClient } = require('authchart/client');

const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
const jwt = (payload) => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.sig`;
const claims = (email, plan, accountId, extra = {}) => ({
  email,
  'https://api.openai.com/auth': { chatgpt_plan_type: plan, chatgpt_account_id: accountId },
  ...extra,
});

const color = process.stdout.isTTY ? (code, s) => `\x1b[${code}m${s}\x1b[0m` : (_c, s) => s;
// Tokens shortened to the end of their payload, which is enough to tell the old one from the new one.
const shorten = (line) => line.replace(/eyJ[A-Za-z0-9_-]+\.([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]*/g, (_t, payload) => `eyJ…${payload.slice(-6)}`);
const step = (title) => console.log(`\n${color(1, title)}`);
const note = (text) => console.log(color(33, `  ${text}`));
const trace = (direction, message) =>
  console.log((direction === 'send' ? color(36, '  → ') : color(32, '  ← ')) + shorten(JSON.stringify(message)));

/** A local stand-in for the ChatGPT backend and the OAuth token endpoint (127.0.0.1, any free port). */
async function startMockBackend() {
  const state = { accepted: new Set() };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const send = (status, value) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      if (req.url.endsWith('/wham/usage')) {
        const token = (req.headers.authorization || '').replace(/^Bearer /, '');
        if (!state.accepted.has(token)) {
          note(`backend: GET ${req.url} with ${shorten(token)} → 401 (old token)`);
          return send(401, { error: { code: 'token_expired' } });
        }
        note(`backend: GET ${req.url} with ${shorten(token)} → 200`);
        return send(200, {
          plan_type: 'pro',
          rate_limit: {
            primary_window: { used_percent: 12.4, limit_window_seconds: 18000, reset_at: 1767225600 },
            secondary_window: { used_percent: 3, limit_window_seconds: 604800, reset_at: 1767744000 },
          },
          credits: { has_credits: true, unlimited: false, balance: '5.00' },
        });
      }
      if (req.url === '/oauth/token' && req.method === 'POST') {
        const grant = JSON.parse(body);
        note(`token endpoint: refresh grant with ${grant.refresh_token} → 200, rotated`);
        const access = jwt(claims('lin@example.com', 'plus', 'ws-gamma', { exp: 4102444800, n: 2 }));
        state.accepted.add(access);
        return send(200, { access_token: access, refresh_token: 'rt_demo_2' });
      }
      send(404, { error: 'not found' });
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${server.address().port}`, state, close: () => (server.closeAllConnections(), server.close()) };
}

async function main() {
  const backend = await startMockBackend();
  const home = mkdtempSync(path.join(os.tmpdir(), 'authchart-demo-'));
  writeFileSync(
    path.join(home, 'config.toml'),
    `chatgpt_base_url = "${backend.origin}/backend-api/"\n[authchart]\ntoken_url = "${backend.origin}/oauth/token"\n`,
  );
  const oldToken = jwt(claims('grace@example.com', 'pro', 'ws-beta', { n: 0 }));
  const newToken = jwt(claims('grace@example.com', 'pro', 'ws-beta', { n: 1 }));
  backend.state.accepted.add(newToken);
  let client;
  try {
    step('1. Handshake: spawn `authchart app-server`, initialize, initialized');
    client = await AuthchartClient.start({
      codexHome: home,
      stderr: 'ignore',
      trace,
      clientInfo: { name: 'demo_parent', title: 'authchart demo', version: '1.0.0' },
      // The parent owns the external tokens: when the backend refuses them, authchart asks here.
      refreshTokens: ({ previousAccountId }) => {
        note(`parent: refreshing the tokens of ${previousAccountId} for authchart`);
        return { accessToken: newToken, chatgptAccountId: 'ws-beta', chatgptPlanType: 'pro' };
      },
    });

    step('2. External ChatGPT tokens, protocol generation A ({idToken, accessToken})');
    let updated = client.next('account/updated');
    await client.loginWithTokens({ idToken: jwt(claims('ada@example.com', 'plus', 'ws-alpha')), accessToken: jwt({ scope: 'demo' }) });
    await updated;
    await client.readAccount();

    step('3. External tokens, generation B ({accessToken, chatgptAccountId, chatgptPlanType})');
    updated = client.next('account/updated');
    await client.loginWithTokens({ accessToken: oldToken, chatgptAccountId: 'ws-beta', chatgptPlanType: 'team' });
    await updated;

    step('4. Rate limits: the backend answers 401 to the old token → authchart asks the parent → retries once');
    const { rateLimits } = await client.readRateLimits();
    note(`primary window ${rateLimits.primary.usedPercent}% used of ${rateLimits.primary.windowDurationMins} min`);

    step('5. An API-key login is refused while external auth is active');
    await client.loginWithApiKey('sk-demo-not-a-real-key').catch((error) => note(`refused: ${error.message}`));

    step('6. Logout clears the external tokens');
    updated = client.next('account/updated');
    await client.logout();
    await updated;
    note(`auth.json on disk: ${existsSync(path.join(home, 'auth.json')) ? 'yes (unexpected!)' : 'none (external tokens live in memory only)'}`);
    await client.close();

    step('7. Managed login (auth.json): on a 401 authchart refreshes through the token endpoint itself');
    writeFileSync(
      path.join(home, 'auth.json'),
      JSON.stringify({
        auth_mode: 'chatgpt',
        tokens: { id_token: jwt(claims('lin@example.com', 'plus', 'ws-gamma')), access_token: jwt({ n: 'expired' }), refresh_token: 'rt_demo_1', account_id: 'ws-gamma' },
        last_refresh: new Date().toISOString(),
      }),
      { mode: 0o600 },
    );
    client = await AuthchartClient.start({ codexHome: home, stderr: 'ignore', trace, clientInfo: { name: 'demo_parent', version: '1.0.0' } });
    await client.readRateLimits();
    note(`auth.json now holds refresh token ${JSON.parse(readFileSync(path.join(home, 'auth.json'), 'utf8')).tokens.refresh_token}`);
    const exit = await client.close();
    console.log(`\napp-server exited with code ${exit.code}`);
    if (exit.code !== 0) process.exitCode = 1;
  } finally {
    client?.kill();
    backend.close();
    rmSync(home, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

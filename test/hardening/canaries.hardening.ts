/**
 * Canary campaign (issue 11): credentials of every kind (API key, JWTs, refresh token, authorization code,
 * code_verifier) go through one app-server run with `--inspect` and AUTHCHART_LOG=debug: API-key and
 * external-token logins, a rate-limit read, a browser login that succeeds and one whose token endpoint
 * echoes the request. None may appear in stdout (no request asked for a token), stderr, the inspector's
 * frames and state, the pages the browser got, or any file but the store.
 */
import { lstatSync, readFileSync, readdirSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { WebSocket } from 'ws';
import { AppServerProcess } from '../support/appServer';
import { USAGE_READ_RESULT, startChatgptBackend } from '../support/httpFakes';
import { inspectorUrl } from '../support/inspector';
import { chatgptJwt } from '../support/jwt';
import { MockIssuer, REFRESH_TOKEN } from '../support/mockIssuer';
import { trackResources } from '../support/resources';
import { printFigures } from './campaign';

function get(url: string): Promise<{ status: number; body: string; location?: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, location: res.headers.location }));
      })
      .on('error', reject);
  });
}

/** Every file under `dir` but `except`, as text. */
function filesBut(dir: string, except: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    const stats = lstatSync(file);
    if (stats.isDirectory()) Object.assign(out, filesBut(file, except));
    else if (stats.isFile() && file !== except) out[file] = readFileSync(file, 'utf8');
  }
  return out;
}

describe('canary campaign', () => {
  const own = trackResources();

  it('no credential of any kind appears outside the store and the fields that return one on request', async () => {
    const apiKey = 'sk-canary-apikey-7f3a9c1e5b2d4f60';
    const idToken = chatgptJwt({ email: 'canary@example.com', plan: 'pro', accountId: 'ws-canary', extra: { canary: 'id' } });
    const accessToken = chatgptJwt({ accountId: 'ws-canary', exp: 4102444800, extra: { canary: 'access' } });
    const issuer = own.server(await MockIssuer.start());
    const backend = own.server(await startChatgptBackend((token) => token === accessToken || issuer.issued.includes(token ?? '')));
    const home = own.home(`chatgpt_base_url = "${backend.origin}/backend-api/"\n[authchart]\nissuer = "${issuer.url}"\nlogin_port = 0\n`);
    const server = AppServerProcess.spawn({ codexHome: home.dir, args: ['--inspect=0'], env: { AUTHCHART_LOG: 'debug' } });
    const frames: string[] = [];
    const pages: string[] = [];
    try {
      const inspector = await inspectorUrl(server);
      const socket = new WebSocket(`${inspector.replace('http:', 'ws:')}ws`);
      socket.on('message', (data) => frames.push(String(data)));
      await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
      await server.initialize();

      await server.request('account/login/start', { type: 'apiKey', apiKey });
      await server.request('account/read', {});
      await server.request('getAuthStatus', {});
      await server.request('account/logout');
      await server.request('account/login/start', { type: 'chatgptAuthTokens', idToken, accessToken });
      expect((await server.request('account/rateLimits/read')).result).toEqual(USAGE_READ_RESULT);
      await server.request('account/logout');

      // A browser login whose token endpoint echoes the request back in its error...
      issuer.behaviour.tokenError = { status: 400, body: (form) => JSON.stringify({ error: 'invalid_grant', error_description: `echo: ${form}` }) };
      let login = (await server.request('account/login/start', { type: 'chatgpt' })).result;
      pages.push((await get((await get(login.authUrl)).location ?? '')).body);
      await server.waitFor((m) => m.method === 'account/login/completed' && m.params.loginId === login.loginId, 'the failed login');
      // ...then one that succeeds.
      issuer.behaviour.tokenError = undefined;
      login = (await server.request('account/login/start', { type: 'chatgpt' })).result;
      const callback = (await get(login.authUrl)).location ?? '';
      pages.push((await get(callback)).body);
      await server.waitFor((m) => m.method === 'account/updated' && m.params.authMode === 'chatgpt', 'the browser login');
      expect((await server.request('account/rateLimits/read')).result).toEqual(USAGE_READ_RESULT);
      await server.request('account/read', {});
      pages.push((await get(`${inspector}state`)).body);
      socket.close();
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }

    const canaries: Record<string, string[]> = {
      'API key': [apiKey],
      'external JWTs': [idToken, accessToken],
      'issued JWTs': issuer.issued.filter((t) => t !== REFRESH_TOKEN),
      'refresh token': [REFRESH_TOKEN],
      'authorization codes': issuer.tokenRequests.map((r) => r.form.get('code') ?? ''),
      'code verifiers': issuer.tokenRequests.map((r) => r.form.get('code_verifier') ?? ''),
    };
    const surfaces: Record<string, string> = {
      stdout: server.stdoutRaw,
      'stderr (debug)': server.stderr,
      'inspector frames': frames.join('\n'),
      'pages (callback pages, inspector state)': pages.join('\n'),
      'files but auth.json': JSON.stringify(filesBut(home.dir, path.join(home.dir, 'auth.json'))),
    };
    const hits: string[] = [];
    for (const [kind, values] of Object.entries(canaries)) {
      for (const value of values) {
        expect(value.length).toBeGreaterThan(8);
        for (const [surface, text] of Object.entries(surfaces)) if (text.includes(value)) hits.push(`${kind} in ${surface}`);
      }
    }
    printFigures('canaries', {
      canaries: Object.fromEntries(Object.entries(canaries).map(([k, v]) => [k, v.length])),
      'surfaces (bytes)': Object.fromEntries(Object.entries(surfaces).map(([k, v]) => [k, v.length])),
      'inspector frames': frames.length,
      hits: hits.length,
    });
    expect(hits).toEqual([]);
    expect(frames.length).toBeGreaterThan(0);
    // The store does hold the browser login's tokens (the one place they belong).
    expect(readFileSync(path.join(home.dir, 'auth.json'), 'utf8')).toContain(REFRESH_TOKEN);
  });
});

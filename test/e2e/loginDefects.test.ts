/**
 * Regression tests of issue 11's browser-login defects over the real bin, a mock issuer on 127.0.0.1 and
 * raw HTTP requests to the callback server: secrets in error texts (defect 4), and a web page cancelling
 * a login (defect 5).
 */
import * as http from 'node:http';
import { AppServerProcess } from '../support/appServer';
import { MockIssuer } from '../support/mockIssuer';
import { trackResources } from '../support/resources';

const resources = trackResources();

/** One HTTP GET with exactly the given headers; resolves with status and body. */
function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; location?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, location: res.headers.location }));
    });
    req.on('error', reject);
  });
}

async function startLogin(issuer: MockIssuer) {
  const home = resources.home(`[authchart]\nissuer = "${issuer.url}"\nlogin_port = 0\n`);
  const server = resources.process(await AppServerProcess.started({ codexHome: home.dir }));
  const { result } = await server.request('account/login/start', { type: 'chatgpt' });
  const port = Number(new URL(new URL(result.authUrl).searchParams.get('redirect_uri') ?? '').port);
  return { server, port, authUrl: result.authUrl as string, loginId: result.loginId as string };
}

describe('defect 4: secrets in error texts', () => {
  it.each([
    ['a JSON error_description quoting the form body', (form: string) => JSON.stringify({ error: 'invalid_grant', error_description: `bad request: ${form}` })],
    ['a plain-text body echoing the form', (form: string) => `rejected ${form}`],
    [
      'a JSON body echoing the request as JSON',
      (form: string) => JSON.stringify({ error: { message: JSON.stringify(Object.fromEntries(new URLSearchParams(form))) } }),
    ],
    [
      'a description naming the values bare',
      (form: string) => {
        const params = new URLSearchParams(form);
        return JSON.stringify({ error_description: `the code ${params.get('code')} does not match the verifier ${params.get('code_verifier')}` });
      },
    ],
  ])('keeps the code and the code_verifier out of the completion error, stderr and the page when the token endpoint answers %s', async (_what, body) => {
    const issuer = resources.server(await MockIssuer.start());
    issuer.behaviour.tokenError = { status: 400, body };
    const { server, authUrl } = await startLogin(issuer);
    const page = await get(new URL((await get(authUrl)).location ?? '').href);
    expect(page.status).toBeGreaterThanOrEqual(400);
    const completed = await server.notification('account/login/completed');
    const { form } = issuer.tokenRequests[0];
    const secrets = [form.get('code') ?? '<none>', form.get('code_verifier') ?? '<none>'];
    expect(completed.params.success).toBe(false);
    expect(completed.params.error).toMatch(/^Login server error: Token exchange failed: token endpoint returned status 400 Bad Request: /);
    for (const secret of secrets) {
      expect(secret.length).toBeGreaterThan(8);
      expect(server.stdoutRaw).not.toContain(secret);
      expect(server.stderr).not.toContain(secret);
      expect(page.body).not.toContain(secret);
    }
    expect(server.stdoutRaw).toContain('[REDACTED]');
  });

  it('keeps the page free of them too (the page shows the scrubbed reason)', async () => {
    const issuer = resources.server(await MockIssuer.start());
    issuer.behaviour.tokenError = { status: 400, body: (form) => JSON.stringify({ error_description: `bad: ${form}` }) };
    const login = await startLogin(issuer);
    const callback = new URL((await get(login.authUrl)).location ?? '');
    const page = await get(callback.href);
    const { form } = issuer.tokenRequests[0];
    expect(page.body).toContain('code=[REDACTED]');
    expect(page.body).not.toContain(form.get('code'));
    expect(page.body).not.toContain(form.get('code_verifier'));
  });
});

describe('defect 5: a web page can cancel a login', () => {
  it('refuses foreign Hosts, cross-site Origins and Sec-Fetch-Site; a plain local GET /cancel still cancels', async () => {
    const issuer = resources.server(await MockIssuer.start());
    const { server, port } = await startLogin(issuer);
    const cancel = `http://127.0.0.1:${port}/cancel`;
    const hostile: Array<Record<string, string>> = [
      { Host: 'attacker.example' },
      { Host: `attacker.example:${port}` },
      { Host: `localhost:${port + 1}` },
      { Host: `127.0.0.1:${port}`, Origin: 'http://attacker.example' },
      { Host: `localhost:${port}`, Origin: 'null' },
      { Host: `127.0.0.1:${port}`, 'Sec-Fetch-Site': 'cross-site' },
      { Host: `127.0.0.1:${port}`, 'Sec-Fetch-Site': 'same-site' },
    ];
    for (const headers of hostile) {
      const answer = await get(cancel, headers);
      expect({ headers, status: answer.status }).toEqual({ headers, status: 403 });
      expect(answer.body).toMatch(/^Forbidden: /);
    }
    const forged = await get(`http://127.0.0.1:${port}/auth/callback?code=x&state=y`, { Host: 'attacker.example' });
    expect(forged.status).toBe(403);
    expect(server.messages.filter((m) => m.method === 'account/login/completed')).toEqual([]);
    // What another authchart or Codex sends to take the port over: no Origin, its own Host.
    expect(await get(cancel)).toMatchObject({ status: 200, body: 'Login cancelled' });
    const completed = await server.notification('account/login/completed');
    expect(completed.params).toMatchObject({ success: false, error: 'Login server error: Login cancelled' });
  });

  it('accepts the same-origin and user-typed forms of /cancel (Origin of its own, Sec-Fetch-Site none)', async () => {
    const issuer = resources.server(await MockIssuer.start());
    const { server, port } = await startLogin(issuer);
    const answer = await get(`http://localhost:${port}/cancel`, { Origin: `http://localhost:${port}`, 'Sec-Fetch-Site': 'same-origin' });
    expect(answer).toMatchObject({ status: 200, body: 'Login cancelled' });
    await server.notification('account/login/completed');
  });
});

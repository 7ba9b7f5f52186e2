import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { AppServerProcess, loopbackBackend, type tempCodexHome } from '../support/appServer';
import { chatgptJwt } from '../support/jwt';
import { trackResources } from '../support/resources';

const track = trackResources();

const canary = (label: string) => `${label}${randomBytes(12).toString('hex')}`;

describe('secrets never leak into logs, errors or notifications', () => {
  let home: ReturnType<typeof tempCodexHome>;
  let server: AppServerProcess;

  it('keeps every token and key out of stderr (debug level) and out of every protocol message', async () => {
    home = track.home(loopbackBackend());
    const apiKey = canary('sk-CANARYKEY');
    const accessA = canary('CANARYACCESSA');
    const signature = canary('CANARYSIG');
    const idTokenA = `${chatgptJwt({ email: 'c@example.com', accountId: 'ws' })}${signature}`;
    const accessB = `${chatgptJwt({ email: 'b@example.com' })}${canary('CANARYB')}`;
    const badToken = canary('CANARYBAD');
    const secrets = [apiKey, accessA, signature, idTokenA, accessB, badToken];

    server = track.process(await AppServerProcess.started({ codexHome: home.dir }));
    await server.request('account/login/start', { type: 'apiKey', apiKey });
    await server.request('account/login/start', { type: 'chatgptAuthTokens', idToken: idTokenA, accessToken: accessA });
    await server.request('account/login/start', { type: 'chatgptAuthTokens', accessToken: accessB, chatgptAccountId: 'ws-b' });
    await server.request('account/login/start', { type: 'chatgptAuthTokens', idToken: badToken, accessToken: badToken });
    await server.request('account/login/start', { type: 'chatgptAuthTokens', idToken: `a.${badToken}.c`, accessToken: 'x' });
    await server.request('account/login/start', { type: 'apiKey', apiKey }); // refused: external active
    await server.request('account/read', {});
    await server.request('getAuthStatus', { includeToken: false });
    await server.request('account/logout');
    // A save that fails for real: its error must not carry the key either.
    mkdirSync(path.join(home.dir, 'auth.json'));
    await server.request('account/login/start', { type: 'apiKey', apiKey });
    const from = server.messages.length;
    server.writeLine(`{"id":1,"method":"account/login/start","params":{"type":"apiKey","apiKey":"${apiKey}"`); // truncated JSON
    server.writeLine(`{"apiKey":"${apiKey}" x}`); // V8 quotes the text around an unexpected token
    server.writeLine(`${badToken}`);
    await server.waitFor(() => server.since(from).filter((m) => m.id === null).length === 3, 'three parse errors');
    expect(await server.close()).toEqual({ code: 0, signal: null });

    expect(server.stderr.length).toBeGreaterThan(0);
    for (const secret of secrets) {
      expect(server.stderr).not.toContain(secret);
      expect(server.stdoutRaw).not.toContain(secret);
    }
  });

  it('writes nothing but JSON-RPC messages to stdout', async () => {
    home = track.home(loopbackBackend());
    server = track.process(await AppServerProcess.started({ codexHome: home.dir }));
    await server.request('account/login/start', { type: 'apiKey', apiKey: 'sk-stdout' });
    server.writeLine('not json');
    await server.request('nope/nope', {});
    await server.request('account/logout');
    await server.close();
    const lines = server.stdoutRaw.split('\n');
    expect(lines.pop()).toBe('');
    for (const line of lines) {
      const message = JSON.parse(line);
      expect(typeof message).toBe('object');
      expect('jsonrpc' in message).toBe(false);
      expect('method' in message || 'result' in message || 'error' in message).toBe(true);
    }
  });
});

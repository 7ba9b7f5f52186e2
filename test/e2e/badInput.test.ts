import { AppServerProcess, type tempCodexHome } from '../support/appServer';
import { chatgptJwt } from '../support/jwt';
import { trackResources } from '../support/resources';

const track = trackResources();

describe('bad input never kills the server and changes nothing (docs/protocol.md §1)', () => {
  let home: ReturnType<typeof tempCodexHome>;
  let server: AppServerProcess;

  beforeEach(async () => {
    home = track.home();
    server = track.process(await AppServerProcess.started({ codexHome: home.dir }));
    // A known state to compare against after each bad request.
    await server.request('account/login/start', { type: 'chatgptAuthTokens', idToken: chatgptJwt({ email: 'keep@example.com', plan: 'pro' }), accessToken: 'keep' });
    await server.notification('account/updated');
  });

  const accountAfter = async () => (await server.request('account/read', {})).result;
  const expected = { account: { type: 'chatgpt', email: 'keep@example.com', planType: 'pro', workspaceName: null }, userId: null, requiresOpenaiAuth: true, workspaceRouting: null };

  it.each([
    ['a line that is not JSON', '{"id": 1, "method": ', { code: -32700 }],
    ['a JSON number', '42', { code: -32600, message: 'Invalid request: a message must be a JSON object' }],
    ['a batch array', '[{"id":1,"method":"account/read"}]', { code: -32600, message: 'Invalid request: batch requests are not supported' }],
    ['an object that is no message', '{"hello":"world"}', { code: -32600 }],
    ['a non-string method', '{"id":3,"method":7}', { code: -32600, message: 'Invalid request: method must be a non-empty string' }],
    ['an id of the wrong type', '{"id":{"a":1},"method":"account/read"}', { code: -32600, message: 'Invalid request: id must be an integer or a string' }],
  ])('answers %s with an error whose id is null', async (_what, line, error) => {
    const from = server.messages.length;
    server.writeLine(line);
    const reply = await server.waitFor((m) => m.id === null, 'the id-null error', 15000, from);
    expect(reply).toEqual({ id: null, error: expect.objectContaining(error) });
    expect(await accountAfter()).toEqual(expected);
  });

  it('accepts messages carrying "jsonrpc":"2.0" and CRLF line ends', async () => {
    server.child.stdin.write('{"jsonrpc":"2.0","id":"crlf","method":"account/read","params":{}}\r\n');
    expect(await server.waitFor((m) => m.id === 'crlf')).toEqual({ id: 'crlf', result: expected });
  });

  it.each([
    ['account/login/start', { type: 'password' }, /^Invalid params for account\/login\/start: type: /],
    ['account/login/start', { type: 'apiKey', apiKey: 7 }, /^Invalid params for account\/login\/start: apiKey: /],
    ['account/login/start', { type: 'chatgptAuthTokens', accessToken: 'a' }, /^Invalid params: idToken: /],
    ['account/login/start', { type: 'chatgptAuthTokens', accessToken: 5, chatgptAccountId: 'ws' }, /^Invalid params: accessToken: /],
    ['account/login/start', { type: 'chatgptAuthTokens', idToken: '', accessToken: 'a' }, /^Invalid params: idToken: idToken must not be empty$/],
    ['account/read', undefined, /^Invalid params for account\/read: /],
    ['account/read', { refreshToken: 'yes' }, /^Invalid params for account\/read: refreshToken: /],
    ['account/login/cancel', {}, /^Invalid params for account\/login\/cancel: loginId: /],
    ['getAuthStatus', { includeToken: 1 }, /^Invalid params for getAuthStatus: includeToken: /],
  ])('answers %s with params %j with -32602 naming the field', async (method, params, message) => {
    const response = await server.request(method, params);
    expect(response.error.code).toBe(-32602);
    expect(response.error.message).toMatch(message);
    expect(await accountAfter()).toEqual(expected);
  });

  it('never replies to notifications, known or unknown', async () => {
    const from = server.messages.length;
    server.send({ method: 'initialized' });
    server.send({ method: 'some/notification', params: { x: 1 } });
    server.send({ method: '$/cancelRequest' });
    await server.request('account/read', {}, 'fence');
    expect(server.since(from)).toEqual([{ id: 'fence', result: expected }]);
  });

  it('drops an over-long line with an error and goes on', async () => {
    const from = server.messages.length;
    const huge = `{"id":"big","method":"account/read","params":{"pad":"${'x'.repeat(11 * 1024 * 1024)}"}}`;
    server.writeLine(huge);
    const reply = await server.waitFor((m) => m.id === null, 'overflow error', 15000, from);
    expect(reply.error.code).toBe(-32600);
    expect(reply.error.message).toMatch(/exceed the 10 MiB line limit/);
    expect(await accountAfter()).toEqual(expected);
    expect(server.since(from).some((m) => m.id === 'big')).toBe(false);
  });
});

describe('exit behaviour', () => {
  let home: ReturnType<typeof tempCodexHome>;

  it('answers everything already read, then exits 0 on stdin EOF', async () => {
    home = track.home();
    const server = track.process(AppServerProcess.spawn({ codexHome: home.dir }));
    const lines = [
      { id: 0, method: 'initialize', params: { clientInfo: { name: 'eof', version: '1' } } },
      { id: 1, method: 'account/login/start', params: { type: 'apiKey', apiKey: 'sk-eof' } },
      { id: 2, method: 'account/read', params: {} },
      { id: 3, method: 'account/logout' },
    ];
    server.child.stdin.end(lines.map((l) => JSON.stringify(l)).join('\n'));
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.messages.filter((m) => 'id' in m).map((m) => m.id)).toEqual([0, 1, 2, 3]);
    expect(server.messages.find((m) => m.id === 2)?.result.account).toEqual({ type: 'apiKey' });
    expect(server.messages.at(-1)).toEqual({ method: 'account/updated', params: { authMode: null, planType: null, reason: null } });
  });

  it('exits 0 on SIGTERM', async () => {
    home = track.home();
    const server = track.process(await AppServerProcess.started({ codexHome: home.dir }));
    server.child.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
  });
});

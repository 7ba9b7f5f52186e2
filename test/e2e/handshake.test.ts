import { AppServerProcess, type tempCodexHome } from '../support/appServer';
import { trackResources } from '../support/resources';

const track = trackResources();

describe('handshake (docs/protocol.md §2)', () => {
  let home: ReturnType<typeof tempCodexHome>;
  let server: AppServerProcess;

  beforeEach(() => {
    home = track.home();
  });

  it('answers initialize with the four fields strict clients require', async () => {
    server = track.process(AppServerProcess.spawn({ codexHome: home.dir }));
    const response = await server.request('initialize', { clientInfo: { name: 'my_app', title: 'My App', version: '1.2.3' }, capabilities: { experimentalApi: true } }, 0);
    expect(response).toEqual({
      id: 0,
      result: {
        userAgent: expect.stringMatching(/^authchart\/\d+\.\d+\.\d+ \(.+; .+\) \(my_app; 1\.2\.3\)$/),
        codexHome: home.dir,
        platformFamily: 'unix',
        platformOs: 'linux',
      },
    });
    expect('jsonrpc' in response).toBe(false);
    expect(await server.close()).toEqual({ code: 0, signal: null });
  });

  it('refuses requests before initialize and a second initialize', async () => {
    server = track.process(AppServerProcess.spawn({ codexHome: home.dir }));
    expect(await server.request('account/read', {}, 1)).toEqual({ id: 1, error: { code: -32600, message: 'Not initialized' } });
    await server.initialize();
    expect(await server.request('initialize', { clientInfo: { name: 'again', version: '1' } }, 2)).toEqual({
      id: 2,
      error: { code: -32600, message: 'Already initialized' },
    });
  });

  it('refuses a clientInfo.name that is not a valid HTTP header value', async () => {
    server = track.process(AppServerProcess.spawn({ codexHome: home.dir }));
    expect(await server.request('initialize', { clientInfo: { name: 'bad\nname', version: '1' } }, 'a')).toEqual({
      id: 'a',
      error: { code: -32600, message: "Invalid clientInfo.name: 'bad\nname'. Must be a valid HTTP header value." },
    });
  });

  it('handles requests pipelined before the initialize response, in arrival order, with string ids', async () => {
    server = track.process(AppServerProcess.spawn({ codexHome: home.dir }));
    server.send({ id: 0, method: 'initialize', params: { clientInfo: { name: 'eager', version: '9' } } });
    server.send({ method: 'initialized' });
    server.send({ id: 'c0ffee', method: 'thread/start', params: {} });
    server.send({ id: 7, method: 'account/logout' });
    server.send({ id: 8, method: 'account/rateLimits/read' });
    await server.waitFor((m) => m.id === 8);
    const ids = server.messages.filter((m) => 'id' in m).map((m) => m.id);
    expect(ids).toEqual([0, 'c0ffee', 7, 8]);
    expect(server.messages.find((m) => m.id === 'c0ffee')).toEqual({ id: 'c0ffee', error: { code: -32601, message: 'Method not found: thread/start' } });
  });
});

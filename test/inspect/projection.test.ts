import { Secret } from '../../machines/secret';
import { safeEventFields, safeView, wireIdOf } from '../../src/inspect/projection';
import { chatgptJwt } from '../support/jwt';

describe('safeView (what the inspector may send)', () => {
  it('drops Secret values and every credential-named field, however deep', () => {
    const view = safeView({
      req: 3,
      apiKey: new Secret('sk-never-shown'),
      tokens: { accessToken: new Secret('at'), idToken: new Secret('it') },
      nested: { list: [new Secret('x'), 'kept', { refresh_token: 'rt_plain_string', code_verifier: 'v', password: 'p', client_secret: 's' }] },
      account: { email: 'dev@example.com', accountId: 'acct-1', planType: 'plus' },
    });
    expect(view).toEqual({
      req: 3,
      nested: { list: ['kept', {}] },
      account: { email: 'dev@example.com', accountId: 'acct-1', planType: 'plus' },
    });
    expect(JSON.stringify(view)).not.toMatch(/sk-never-shown|rt_plain_string/);
  });

  it('keeps plain data only: instances are named, functions dropped, errors reduced to a masked message', () => {
    class Vault {
      secret = 'inside';
    }
    const jwt = chatgptJwt({ email: 'a@b.c' });
    expect(
      safeView({
        vault: new Vault(),
        fn: () => 1,
        when: new Date(0),
        big: 10n,
        nan: Number.NaN,
        error: new Error(`backend said no to ${jwt}`),
        text: `Bearer abcdefghijkl and ${jwt}`,
      }),
    ).toEqual({
      vault: '[Vault]',
      when: '1970-01-01T00:00:00.000Z',
      big: '10',
      nan: 'NaN',
      error: { error: 'Error', message: 'backend said no to [REDACTED-JWT]' },
      text: '[REDACTED] and [REDACTED-JWT]',
    });
  });

  it('survives cycles', () => {
    const loop: Record<string, unknown> = { name: 'loop' };
    loop.self = loop;
    expect(JSON.stringify(safeView(loop))).toContain('[…]');
  });

  it('gives an event\'s fields without its type, its wire id or the internal request counter', () => {
    const event = { type: 'login.apiKey', req: 1, rpcId: 2, apiKey: new Secret('k'), originator: 'x' } as { type: string };
    expect(safeEventFields(event)).toEqual({ originator: 'x' });
    expect(wireIdOf(event)).toBe(2);
    expect(wireIdOf({ type: 'login.apiKey', rpcId: 'a-1' } as { type: string })).toBe('a-1');
    expect(wireIdOf({ type: 'login.apiKey', req: 1 } as { type: string })).toBeNull();
    expect(wireIdOf({ type: 'x', rpcId: { evil: true } } as { type: string })).toBeNull();
  });

  it('never shows what an invoked actor returned, even a bare string', () => {
    const done = { type: 'xstate.done.actor.refresh', actorId: 'refresh', output: 'opaque-credential-with-no-telltale-shape' };
    expect(safeEventFields(done)).toEqual({ actorId: 'refresh' });
    expect(safeEventFields({ type: 'xstate.snapshot.poller', snapshot: { context: { value: 'x' } } } as { type: string })).toEqual({});
  });
});

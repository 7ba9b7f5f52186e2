import { inspect } from 'node:util';
import { Secret } from '../../machines/secret';
import { formatAuthJson, parseAuthJson } from '../../src/auth/credentials';

describe('auth.json (docs/protocol.md §10)', () => {
  it('round-trips ChatGPT credentials in the layout Codex writes', () => {
    const text = formatAuthJson({
      mode: 'chatgpt',
      apiKey: null,
      tokens: { idToken: new Secret('i.d.t'), accessToken: new Secret('a'), refreshToken: new Secret('r'), accountId: 'acc' },
      lastRefresh: '2026-01-29T23:46:04.123Z',
    });
    expect(JSON.parse(text)).toEqual({
      auth_mode: 'chatgpt',
      OPENAI_API_KEY: null,
      tokens: { id_token: 'i.d.t', access_token: 'a', refresh_token: 'r', account_id: 'acc' },
      last_refresh: '2026-01-29T23:46:04.123Z',
    });
    const parsed = parseAuthJson(text);
    expect(parsed?.mode).toBe('chatgpt');
    expect(parsed?.mode === 'chatgpt' && parsed.tokens.refreshToken.reveal()).toBe('r');
  });

  it('omits tokens and last_refresh for an API key', () => {
    expect(JSON.parse(formatAuthJson({ mode: 'apiKey', apiKey: new Secret('sk-1') }))).toEqual({ auth_mode: 'apikey', OPENAI_API_KEY: 'sk-1' });
  });

  it('infers the mode when auth_mode is absent', () => {
    expect(parseAuthJson('{"OPENAI_API_KEY":"sk"}')?.mode).toBe('apiKey');
    expect(parseAuthJson('{"OPENAI_API_KEY":null,"tokens":{"id_token":"i","access_token":"a","refresh_token":"r"}}')?.mode).toBe('chatgpt');
    expect(parseAuthJson('{"OPENAI_API_KEY":null}')).toBeNull();
  });

  it.each([
    ['[]', 'the top level must be a JSON object'],
    ['{"auth_mode":"magic"}', 'auth_mode must be "apikey" or "chatgpt", got "magic"'],
    ['{"auth_mode":"apikey"}', 'auth_mode is "apikey" but OPENAI_API_KEY is missing'],
    ['{"tokens":5}', 'tokens must be an object'],
    ['{"tokens":{"id_token":"i","access_token":"a","refresh_token":"r"},"last_refresh":"yesterday"}', 'last_refresh must be an RFC 3339 date string'],
  ])('rejects %s', (text, message) => {
    expect(() => parseAuthJson(text)).toThrow(message);
  });

  it('never shows a secret when serialized for logs', () => {
    const secret = new Secret('sk-hidden');
    expect(JSON.stringify({ secret })).toBe('{"secret":"[REDACTED]"}');
    expect(`${secret}`).toBe('[REDACTED]');
    expect(inspect({ secret })).not.toContain('sk-hidden');
  });
});

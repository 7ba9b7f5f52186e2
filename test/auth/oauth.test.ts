import { Secret } from '../../machines/secret';
import {
  CLIENT_ID,
  TokenExchangeError,
  buildAuthorizeUrl,
  codeExchangeBody,
  createPkce,
  createState,
  encodeQueryValue,
  parseCodeExchangeResponse,
  s256Challenge,
  tokenErrorDetail,
} from '../../src/auth/oauth';
import { chatgptJwt } from '../support/jwt';

describe('PKCE and state (docs/protocol.md §8)', () => {
  it('computes the S256 challenge of RFC 7636 appendix B', () => {
    expect(s256Challenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
  });

  it('draws a 64-byte base64url verifier whose challenge matches, and a 32-byte state, fresh each time', () => {
    const pkce = createPkce();
    expect(pkce.verifier.reveal()).toMatch(/^[A-Za-z0-9_-]{86}$/);
    expect(pkce.challenge).toBe(s256Challenge(pkce.verifier.reveal()));
    expect(JSON.stringify(pkce)).not.toContain(pkce.verifier.reveal());
    expect(createState()).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(createState()).not.toBe(createState());
    expect(createPkce().challenge).not.toBe(pkce.challenge);
  });
});

describe('the authorize URL', () => {
  const base = {
    issuer: 'https://auth.example.com/',
    redirectUri: 'http://localhost:1455/auth/callback',
    challenge: 'CHALLENGE',
    state: 'STATE',
    originator: 'codex_vscode',
    allowedWorkspaceIds: null,
  };

  it('is exactly the URL of §8, parameters in order', () => {
    expect(buildAuthorizeUrl(base)).toBe(
      'https://auth.example.com/oauth/authorize?response_type=code&client_id=app_EMoamEEZ73f0CkXaXp7hrann' +
        '&redirect_uri=http%3A%2F%2Flocalhost%3A1455%2Fauth%2Fcallback&scope=openid%20profile%20email%20offline_access' +
        '&code_challenge=CHALLENGE&code_challenge_method=S256&id_token_add_organizations=true&codex_cli_simplified_flow=true' +
        '&state=STATE&originator=codex_vscode',
    );
  });

  it('appends allowed_workspace_id (ids joined with a comma) when a workspace is forced', () => {
    expect(buildAuthorizeUrl({ ...base, allowedWorkspaceIds: ['ws-1'] })).toMatch(/&originator=codex_vscode&allowed_workspace_id=ws-1$/);
    expect(buildAuthorizeUrl({ ...base, allowedWorkspaceIds: ['ws-1', 'ws-2'] })).toMatch(/&allowed_workspace_id=ws-1%2Cws-2$/);
  });

  it("percent-encodes like Rust's urlencoding (only A-Za-z0-9-_.~ stay)", () => {
    expect(encodeQueryValue("my app!'()*~-_.")).toBe('my%20app%21%27%28%29%2A~-_.');
  });
});

describe('the code exchange', () => {
  it('sends exactly the five form fields of §8', () => {
    const form = new URLSearchParams(
      codeExchangeBody({ code: new Secret('the code'), verifier: new Secret('v'), redirectUri: 'http://localhost:1/auth/callback' }),
    );
    expect(Object.fromEntries(form)).toEqual({
      grant_type: 'authorization_code',
      code: 'the code',
      redirect_uri: 'http://localhost:1/auth/callback',
      client_id: CLIENT_ID,
      code_verifier: 'v',
    });
  });

  it('returns the tokens as Secrets and the claims of the id token', () => {
    const idToken = chatgptJwt({ email: 'ada@example.com', plan: 'Pro', accountId: 'ws-1', userId: 'u-1' });
    const result = parseCodeExchangeResponse(200, JSON.stringify({ id_token: idToken, access_token: 'at', refresh_token: 'rt' }));
    expect(result.account).toEqual({ email: 'ada@example.com', planType: 'pro', accountId: 'ws-1', userId: 'u-1' });
    expect(result.tokens.idToken.reveal()).toBe(idToken);
    expect(JSON.stringify(result)).not.toContain('"rt"');
  });

  it.each([
    [400, '{"error":"invalid_grant","error_description":"Code expired"}', 'token endpoint returned status 400 Bad Request: Code expired'],
    [401, '{"error":{"code":"bad_code","message":"The code is not valid"}}', 'token endpoint returned status 401 Unauthorized: The code is not valid'],
    [403, '{"error":"access_denied"}', 'token endpoint returned status 403 Forbidden: access_denied'],
    [502, '<html>bad gateway</html>', 'token endpoint returned status 502 Bad Gateway: <html>bad gateway</html>'],
    [500, '', 'token endpoint returned status 500 Internal Server Error: unknown error'],
    [200, 'not json', 'the token endpoint answer is not JSON'],
    [200, '[]', 'the token endpoint answer is not a JSON object'],
    [200, '{"id_token":"a.b.c","access_token":"at"}', 'the token endpoint answer has no refresh_token'],
    [200, '{"id_token":"x","access_token":"at","refresh_token":"rt"}', 'the token endpoint returned an invalid id token: token must have three dot-separated segments, found 1'],
  ])('refuses an answer %i %s with a clear message', (status, body, message) => {
    expect(() => parseCodeExchangeResponse(status, body)).toThrow(new TokenExchangeError(message));
  });

  it('caps a long non-JSON error body', () => {
    expect(tokenErrorDetail('x'.repeat(1000))).toBe(`${'x'.repeat(300)}…`);
  });
});

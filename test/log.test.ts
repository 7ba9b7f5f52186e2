import { Secret } from '../machines/secret';
import { createLogger, redact, redactText, scrubCredentialFields, scrubKnownSecrets } from '../src/log';

describe('logger redaction', () => {
  it('removes Secrets and credential-named fields structurally', () => {
    expect(redact({ apiKey: 'sk-1', nested: { access_token: 'x', ok: 'fine' }, s: new Secret('v'), list: [{ refreshToken: 'r' }] })).toEqual({
      apiKey: '[REDACTED]',
      nested: { access_token: '[REDACTED]', ok: 'fine' },
      s: '[REDACTED]',
      list: [{ refreshToken: '[REDACTED]' }],
    });
  });

  it('masks JWT-, key- and bearer-shaped text as a last guard', () => {
    expect(redactText('got eyJhbGciOi.eyJzdWIiOiIxIn0.c2ln and sk-abcdefgh and Bearer abc.def-123')).toBe(
      'got [REDACTED-JWT] and [REDACTED] and [REDACTED]',
    );
  });

  it('writes one line per record at or above its level', () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', write: (l) => lines.push(l) });
    logger.debug('hidden');
    logger.warn('careful', { token: 't' });
    expect(lines).toEqual(['authchart warn: careful {"token":"[REDACTED]"}\n']);
  });

  it('scrubs credential fields from text taken from HTTP bodies and URLs (issue 11 defect 4)', () => {
    expect(scrubCredentialFields('grant_type=authorization_code&code=AbC123&redirect_uri=x&code_verifier=vvv&client_secret=s')).toBe(
      'grant_type=authorization_code&code=[REDACTED]&redirect_uri=x&code_verifier=[REDACTED]&client_secret=[REDACTED]',
    );
    expect(scrubCredentialFields('{"refresh_token":"rt","id_token": "a.b.c","nested":"{\\"access_token\\":\\"at\\"}"}')).toBe(
      '{"refresh_token":"[REDACTED]","id_token": "[REDACTED]","nested":"{\\"access_token\\":\\"[REDACTED]\\"}"}',
    );
    expect(scrubCredentialFields('/auth/callback?code=XYZ&state=s api_key=k')).toBe('/auth/callback?code=[REDACTED]&state=s api_key=[REDACTED]');
  });

  it('keeps numbers and OAuth error words in fields named code', () => {
    expect(redactText('auth refresh request failed: code=-32600 message=m')).toBe('auth refresh request failed: code=-32600 message=m');
    expect(redactText('{"error":{"code":"refresh_token_expired"}}')).toBe('{"error":{"code":"refresh_token_expired"}}');
  });

  it('scrubs known secret values in any shape', () => {
    expect(scrubKnownSecrets('code a/b+c= or a%2Fb%2Bc%3D', [new Secret('a/b+c='), null])).toBe('code [REDACTED] or [REDACTED]');
  });
});

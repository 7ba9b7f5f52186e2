import { Secret } from '../machines/secret';
import { createLogger, redact, redactText } from '../src/log';

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
});

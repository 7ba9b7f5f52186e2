import { UsageError, canOpenBrowser, refuseKeyInArgv } from '../src/cliAccount';
import { maskApiKey } from '../src/cliInput';

describe('the account commands (helpers)', () => {
  it('opens a browser only in a desktop session, never over SSH, in CI or on a bare Linux console', () => {
    expect(canOpenBrowser({}, 'linux')).toBe(false);
    expect(canOpenBrowser({ DISPLAY: ':0' }, 'linux')).toBe(true);
    expect(canOpenBrowser({ WAYLAND_DISPLAY: 'wayland-0' }, 'linux')).toBe(true);
    expect(canOpenBrowser({ DISPLAY: ':0', SSH_CONNECTION: '10.0.0.1 5 10.0.0.2 22' }, 'linux')).toBe(false);
    expect(canOpenBrowser({ SSH_TTY: '/dev/pts/1' }, 'darwin')).toBe(false);
    expect(canOpenBrowser({ CI: 'true' }, 'win32')).toBe(false);
    expect(canOpenBrowser({}, 'darwin')).toBe(true);
  });

  it('masks an API key like `codex login status`: 8 leading characters, ***, the last 4', () => {
    expect(maskApiKey('sk-proj-1234567890ABCDE')).toBe('sk-proj-***BCDE');
    expect(maskApiKey('sk-1234567890')).toBe('***');
    expect(maskApiKey('sk-12345678901')).toBe('sk-12345***8901');
  });

  it('refuses --api-key=<value> before the option parser could echo it', () => {
    expect(() => refuseKeyInArgv(['login', '--api-key=sk-secret'])).toThrow(UsageError);
    expect(() => refuseKeyInArgv(['login', '--api-key=sk-secret'])).toThrow(expect.objectContaining({ message: expect.not.stringContaining('sk-secret') }));
    expect(() => refuseKeyInArgv(['login', '--api-key'])).not.toThrow();
  });
});

/**
 * `authchart login | logout | status` end to end: the real bin, real files in a temp CODEX_HOME, the
 * mock issuer on 127.0.0.1 for the browser login.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { BIN, loopbackBackend, tempCodexHome } from '../support/appServer';
import { chatgptJwt } from '../support/jwt';
import { MockIssuer, REFRESH_TOKEN } from '../support/mockIssuer';

const KEY = 'sk-proj-cli-canary-5f2a9c7e1b';

/** The environment of a user on a headless machine: no display, not CI, quiet logs unless asked. */
function headlessEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, AUTHCHART_LOG: 'debug' };
  for (const name of ['DISPLAY', 'WAYLAND_DISPLAY', 'CODEX_HOME', 'CI', 'SSH_CONNECTION', 'SSH_TTY']) delete env[name];
  return { ...env, ...extra };
}

interface Run {
  child: ChildProcessWithoutNullStreams;
  stdout: string;
  stderr: string;
  exited: Promise<number | null>;
  /** Resolves when stderr matches. */
  stderrMatching(pattern: RegExp): Promise<RegExpMatchArray>;
  /** Resolves when stdout matches. */
  stdoutMatching(pattern: RegExp): Promise<RegExpMatchArray>;
}

/** Resolves with the first match of `pattern` in what a stream has produced so far or will produce. */
function matching(stream: NodeJS.ReadableStream, text: () => string, pattern: RegExp): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const match = pattern.exec(text());
      if (match) {
        stream.off('data', check);
        stream.off('end', ended);
        resolve(match);
      }
    };
    const ended = () => reject(new Error(`the stream ended before it matched ${pattern}:\n${text()}`));
    stream.on('data', check);
    stream.once('end', ended);
    check();
  });
}

/** Runs `authchart <args>` (or, with `program`, any command) with pipes on all three streams. */
function launch(args: string[], options: { stdin?: string | Buffer; env?: NodeJS.ProcessEnv; program?: string; user?: { uid: number; gid: number } } = {}): Run {
  const [file, argv] = options.program ? [options.program, args] : [process.execPath, [BIN, ...args]];
  const child = spawn(file, argv, { env: options.env ?? headlessEnv(), stdio: ['pipe', 'pipe', 'pipe'], ...options.user });
  const run: Run = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
    stderrMatching: (pattern) => matching(child.stderr, () => run.stderr, pattern),
    stdoutMatching: (pattern) => matching(child.stdout, () => run.stdout, pattern),
  };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (run.stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (run.stderr += chunk));
  if (options.stdin !== undefined) child.stdin.end(options.stdin);
  return run;
}

async function cli(args: string[], options: { stdin?: string | Buffer; env?: NodeJS.ProcessEnv; user?: { uid: number; gid: number } } = {}) {
  const run = launch(args, { stdin: options.stdin ?? '', env: options.env, user: options.user });
  const code = await run.exited;
  return { code, stdout: run.stdout, stderr: run.stderr };
}

describe('authchart login | logout | status', () => {
  let home: ReturnType<typeof tempCodexHome>;
  let running: Run | null = null;

  beforeEach(() => {
    home = tempCodexHome();
  });
  afterEach(() => {
    if (running && running.child.exitCode === null) running.child.kill('SIGKILL');
    running = null;
    home.cleanup();
  });

  it.each(['login', 'logout', 'status'])('`%s --help` explains the command and exits 0', async (command) => {
    const result = await cli([command, '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Usage: authchart ${command} [options]`);
    expect(result.stdout).toContain('--codex-home <dir>');
  });

  it('saves an API key read from stdin, never from argv, and never shows it again', async () => {
    const login = await cli(['login', '--api-key', '--codex-home', home.dir], { stdin: `${KEY}\n` });
    expect(login).toEqual({ code: 0, stdout: `Logged in using an API key (saved to ${path.join(home.dir, 'auth.json')}).\n`, stderr: expect.any(String) });
    const file = path.join(home.dir, 'auth.json');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ auth_mode: 'apikey', OPENAI_API_KEY: KEY });
    expect(statSync(file).mode & 0o777).toBe(0o600);

    const status = await cli(['status', '--codex-home', home.dir]);
    expect(status.code).toBe(0);
    // Masked like `codex login status`: the first 8 characters and the last 4.
    expect(status.stdout).toBe(`Logged in using an API key\n  key:        sk-proj-***7e1b\n  stored in:  ${file}\n`);
    const json = await cli(['status', '--json', '--codex-home', home.dir]);
    expect(JSON.parse(json.stdout)).toEqual({ authMode: 'apikey', maskedApiKey: 'sk-proj-***7e1b', email: null, planType: null, accountId: null, workspaceName: null, store: file });
    // Debug logs were on: the key is in no output of any command.
    for (const output of [login, status, json]) expect(output.stdout + output.stderr).not.toContain(KEY);
  });

  const withPty = existsSync('/usr/bin/script') ? it : it.skip;
  withPty('prompts on a terminal without echoing the key (a real pty, via script(1)); Ctrl-C at the prompt exits 130', async () => {
    // script(1) runs the command on a pseudo-terminal; its stdout is what the terminal would show.
    const onPty = ['-q', '-e', '-c', `${process.execPath} ${BIN} login --api-key --codex-home ${home.dir}`, '/dev/null'];
    const typed = launch(onPty, { program: '/usr/bin/script' });
    await typed.stdoutMatching(/press Enter: /);
    typed.child.stdin.write(`${KEY}\r`);
    expect(await typed.exited).toBe(0);
    expect(typed.stdout).toContain('Logged in using an API key');
    expect(typed.stdout + typed.stderr).not.toContain(KEY);
    expect(JSON.parse(readFileSync(path.join(home.dir, 'auth.json'), 'utf8')).OPENAI_API_KEY).toBe(KEY);

    const cancelled = launch(onPty, { program: '/usr/bin/script' });
    await cancelled.stdoutMatching(/press Enter: /);
    cancelled.child.stdin.write('sk-half\u0003');
    expect(await cancelled.exited).toBe(130);
    expect(cancelled.stdout).toContain('authchart: login cancelled; no API key was saved.');
    expect(cancelled.stdout).not.toContain('sk-half');
  });

  it('refuses a key on the command line (exit 2) without echoing it, and saves nothing', async () => {
    for (const args of [['login', '--api-key', KEY], ['login', `--api-key=${KEY}`], ['login', KEY]]) {
      const result = await cli([...args, '--codex-home', home.dir]);
      expect(result.code).toBe(2);
      // One prefix, not `authchart: authchart login …`.
      expect(result.stderr).toMatch(/^authchart: login .*pipe it on stdin \(`printenv OPENAI_API_KEY \| authchart login --api-key`\)/);
      expect(result.stdout + result.stderr).not.toContain(KEY);
    }
    expect(existsSync(path.join(home.dir, 'auth.json'))).toBe(false);
  });

  it('refuses an API key on stdin that is not valid UTF-8 (exit 2, nothing saved), as the wire does', async () => {
    const bytes = Buffer.concat([Buffer.from('sk-bad-'), Buffer.from([0xff, 0xfe]), Buffer.from('key\n')]);
    const result = await cli(['login', '--api-key', '--codex-home', home.dir], { stdin: bytes });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('authchart: the API key on stdin is not valid UTF-8 text; send the key exactly as issued.');
    expect(existsSync(path.join(home.dir, 'auth.json'))).toBe(false);
  });

  it('exits 2 on an empty stdin, an unknown option or command, and a broken config', async () => {
    const empty = await cli(['login', '--api-key', '--codex-home', home.dir], { stdin: '\n' });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('authchart: no API key received (stdin was empty); pipe it on stdin');
    expect((await cli(['status', '--bogus'])).code).toBe(2);
    expect((await cli(['bogus'])).code).toBe(2);
    writeFileSync(path.join(home.dir, 'config.toml'), 'forced_login_method = 3\n');
    const broken = await cli(['status', '--codex-home', home.dir]);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain(`${path.join(home.dir, 'config.toml')}:1: key forced_login_method must be "chatgpt" or "api", got 3.`);
  });

  it('exits 1 when the policy refuses the login, with the protocol message', async () => {
    writeFileSync(path.join(home.dir, 'config.toml'), 'forced_login_method = "chatgpt"\n');
    const result = await cli(['login', '--api-key', '--codex-home', home.dir], { stdin: KEY });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('authchart: login failed: API key login is disabled. Use ChatGPT login instead.');
  });

  it('status exits 1 when logged out; logout removes auth.json and always exits 0', async () => {
    const out = await cli(['status'], { env: headlessEnv({ CODEX_HOME: home.dir }) });
    expect(out.code).toBe(1);
    expect(out.stdout).toBe(`Not logged in (no credentials in ${path.join(home.dir, 'auth.json')}). Run \`authchart login\` to sign in.\n`);
    await cli(['login', '--api-key', '--codex-home', home.dir], { stdin: KEY });
    const logout = await cli(['logout', '--codex-home', home.dir]);
    expect(logout).toEqual({ code: 0, stdout: `Logged out; removed the credentials from ${path.join(home.dir, 'auth.json')}.\n`, stderr: expect.any(String) });
    expect(existsSync(path.join(home.dir, 'auth.json'))).toBe(false);
    expect((await cli(['logout', '--codex-home', home.dir])).stdout).toBe('Not logged in; nothing to remove.\n');
  });

  describe('a CODEX_HOME or an auth.json that cannot be used', () => {
    it.each([['status'], ['login', '--api-key'], ['logout'], ['app-server']])('`%s` with a CODEX_HOME that is a file: "<path> is not a directory", exit 2', async (...command) => {
      const file = path.join(home.dir, 'not-a-dir');
      writeFileSync(file, 'x');
      const result = await cli([...command, '--codex-home', file], { stdin: KEY });
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(
        `authchart: ${file} is not a directory. CODEX_HOME (--codex-home or $CODEX_HOME) must be a directory holding config.toml and auth.json: ` +
          'move that file aside or point CODEX_HOME somewhere else.\n',
      );
    });

    it('names the file on the way when a parent of CODEX_HOME is a file', async () => {
      const file = path.join(home.dir, 'not-a-dir');
      writeFileSync(file, 'x');
      const result = await cli(['status'], { env: headlessEnv({ CODEX_HOME: path.join(file, 'codex') }) });
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(new RegExp(`^authchart: ${file} is not a directory \\(on the way to ${path.join(file, 'codex')}\\)\\.`));
    });

    it('status says it cannot read auth.json (exit 2) instead of "Not logged in"', async () => {
      mkdirSync(path.join(home.dir, 'auth.json'));
      const result = await cli(['status', '--codex-home', home.dir]);
      expect(result).toEqual({
        code: 2,
        stdout: '',
        stderr:
          `authchart: cannot read the saved credentials ${path.join(home.dir, 'auth.json')} (EISDIR), so the login state is unknown. ` +
          'Make the file readable by you (chmod 600 it) or remove it (`authchart logout`).\n',
      });
    });

    it('status exits 2 on an auth.json without read permission; logout says it removed it', async () => {
      await cli(['login', '--api-key', '--codex-home', home.dir], { stdin: KEY });
      const file = path.join(home.dir, 'auth.json');
      // root reads any file whatever its mode: as root, run the commands as `nobody`, for whom the
      // 0600 file of another user is unreadable while the (opened up) directory lets it be removed.
      const asOther = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : undefined;
      if (asOther) chmodSync(home.dir, 0o777);
      else chmodSync(file, 0o000);
      const status = await cli(['status', '--codex-home', home.dir], { user: asOther });
      expect(status.code).toBe(2);
      expect(status.stdout).toBe('');
      expect(status.stderr).toContain(`authchart: cannot read the saved credentials ${file} (EACCES), so the login state is unknown.`);
      const logout = await cli(['logout', '--codex-home', home.dir], { user: asOther });
      expect(logout.code).toBe(0);
      expect(logout.stdout).toBe(`Not logged in; removed ${file} anyway (it could not be read: EACCES).\n`);
      expect(existsSync(file)).toBe(false);
    });

    it('logout tells the truth when it removes an auth.json that held nothing usable', async () => {
      const file = path.join(home.dir, 'auth.json');
      writeFileSync(file, '{nope');
      const logout = await cli(['logout', '--codex-home', home.dir]);
      expect(logout.code).toBe(0);
      expect(logout.stdout).toMatch(new RegExp(`^Not logged in; removed ${file} anyway \\(it held no usable credentials: not valid JSON`));
      expect(existsSync(file)).toBe(false);
      expect((await cli(['logout', '--codex-home', home.dir])).stdout).toBe('Not logged in; nothing to remove.\n');
    });
  });

  describe('config.toml mistakes', () => {
    it('warns about a misspelled [authchart] key, naming the closest known one, and goes on', async () => {
      writeFileSync(path.join(home.dir, 'config.toml'), '[authchart]\nlogin_prot = 1455\n');
      const result = await cli(['status', '--codex-home', home.dir], { env: headlessEnv({ AUTHCHART_LOG: 'warn' }) });
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        `authchart warn: ${path.join(home.dir, 'config.toml')}:2: unknown key authchart.login_prot is ignored; did you mean login_port? ` +
          '(known keys: external_refresh_timeout_ms, issuer, token_url, revoke_url, login_port, login_timeout_ms, device_login_timeout_ms, proactive_refresh_skew_seconds, discovery_timeout_ms)\n',
      );
    });

    it('says a string is not closed, where it opens, and exits 2 (app-server included)', async () => {
      writeFileSync(path.join(home.dir, 'config.toml'), '[authchart]\nissuer = "http://127.0.0.1:1\nlogin_port = 0\n');
      for (const command of ['status', 'app-server']) {
        const result = await cli([command, '--codex-home', home.dir]);
        expect(result.code).toBe(2);
        expect(result.stderr).toBe(
          `authchart: ${path.join(home.dir, 'config.toml')}:2:10: config.toml has a string that is not closed: ` +
            'the quote opened here has no closing quote on its line. Add the closing quote (a string on several lines needs triple quotes).\n',
        );
      }
    });
  });

  describe('browser login', () => {
    let issuer: MockIssuer;
    beforeEach(async () => {
      issuer = await MockIssuer.start();
      writeFileSync(path.join(home.dir, 'config.toml'), loopbackBackend(`[authchart]\nissuer = "${issuer.url}"\nlogin_port = 0\n`));
    });
    afterEach(async () => {
      await issuer.close();
    });

    it('prints the URL on a headless machine, opens nothing, waits, and exits 0 once signed in; status shows the account', async () => {
      running = launch(['login', '--codex-home', home.dir]);
      const [authUrl] = await running.stderrMatching(/http:\/\/127\.0\.0\.1:\d+\/oauth\/authorize\?\S+/);
      expect(running.stderr).toContain('open this URL in a browser on this machine');
      expect(running.stderr).not.toContain('a browser should open');
      expect(new URL(authUrl).searchParams.get('originator')).toBe('authchart');
      const page = await fetch(authUrl); // follows the issuer's redirect to the callback, like a browser
      expect(page.status).toBe(200);
      expect(await running.exited).toBe(0);
      expect(running.stdout).toBe(`Logged in using ChatGPT as ada@example.com (plan plus, account ws-1); saved to ${path.join(home.dir, 'auth.json')}.\n`);

      const status = await cli(['status', '--codex-home', home.dir]);
      expect(status.code).toBe(0);
      expect(status.stdout).toBe(
        'Logged in using ChatGPT\n  email:      ada@example.com\n  plan:       plus\n  account id: ws-1\n' +
          `  stored in:  ${path.join(home.dir, 'auth.json')}\n`,
      );
      const json = await cli(['status', '--json', '--codex-home', home.dir]);
      expect(JSON.parse(json.stdout)).toMatchObject({ authMode: 'chatgpt', email: 'ada@example.com', planType: 'plus', accountId: 'ws-1' });
      for (const output of [running.stdout + running.stderr, status.stdout + status.stderr, json.stdout + json.stderr]) {
        for (const token of issuer.issued) expect(output).not.toContain(token);
      }
    });

    it('exits 1 with the completion text when the sign-in fails', async () => {
      issuer.behaviour.tokenError = { status: 400, body: '{"error":"invalid_grant","error_description":"Code expired"}' };
      running = launch(['login', '--codex-home', home.dir]);
      const [authUrl] = await running.stderrMatching(/http:\/\/127\.0\.0\.1:\d+\/oauth\/authorize\?\S+/);
      await fetch(authUrl);
      expect(await running.exited).toBe(1);
      expect(running.stderr).toContain(
        'authchart: login failed: Login server error: Token exchange failed: token endpoint returned status 400 Bad Request: Code expired',
      );
      expect(existsSync(path.join(home.dir, 'auth.json'))).toBe(false);
    });

    it('cancels on Ctrl-C (SIGINT): says so, exits 130, the listener closed', async () => {
      running = launch(['login', '--codex-home', home.dir]);
      const [authUrl] = await running.stderrMatching(/http:\/\/127\.0\.0\.1:\d+\/oauth\/authorize\?\S+/);
      await running.stderrMatching(/press Ctrl-C to cancel/);
      running.child.kill('SIGINT');
      expect(await running.exited).toBe(130);
      expect(running.stderr).toContain('authchart: login cancelled (Ctrl-C); nothing was saved.\n');
      expect(running.stderr).not.toContain('login failed');
      expect(existsSync(path.join(home.dir, 'auth.json'))).toBe(false);
      const port = Number(new URL(new URL(authUrl).searchParams.get('redirect_uri') ?? '').port);
      await expect(fetch(`http://127.0.0.1:${port}/cancel`)).rejects.toThrow();
    });
  });

  describe('device-code login (docs/protocol.md §13.1)', () => {
    let issuer: MockIssuer;
    const OLD_REFRESH = 'rt_cli_previous_login';
    beforeEach(async () => {
      issuer = await MockIssuer.start();
      writeFileSync(path.join(home.dir, 'config.toml'), loopbackBackend(`[authchart]\nissuer = "${issuer.url}"\nlogin_port = 0\n`));
      // A ChatGPT login saved before: kept until the new one is saved, then revoked.
      const previous = {
        auth_mode: 'chatgpt',
        OPENAI_API_KEY: null,
        tokens: { id_token: chatgptJwt({ email: 'old@example.com', plan: 'free', accountId: 'ws-old' }), access_token: 'at_cli_previous', refresh_token: OLD_REFRESH, account_id: 'ws-old' },
        last_refresh: new Date().toISOString(),
      };
      writeFileSync(path.join(home.dir, 'auth.json'), JSON.stringify(previous), { mode: 0o600 });
    });
    afterEach(async () => {
      await issuer.close();
    });
    const savedRefreshToken = () => JSON.parse(readFileSync(path.join(home.dir, 'auth.json'), 'utf8')).tokens.refresh_token;

    it('prints the URL and the code on stdout, keeps the old login until the new one is saved, then revokes it; exit 0', async () => {
      issuer.behaviour.device = { pendingPolls: 1_000_000, interval: '1' };
      running = launch(['login', '--device-auth', '--codex-home', home.dir]);
      await running.stdoutMatching(/ABCD-EFGH/);
      expect(running.stdout).toContain(`${issuer.url}/codex/device`);
      await running.stderrMatching(/press Ctrl-C to cancel/);
      expect(savedRefreshToken()).toBe(OLD_REFRESH);
      issuer.behaviour.device = { pendingPolls: 0 };
      expect(await running.exited).toBe(0);
      expect(running.stderr).toContain(`Logged in using ChatGPT as ada@example.com (plan plus, account ws-1); saved to ${path.join(home.dir, 'auth.json')}.`);
      expect(savedRefreshToken()).toBe(REFRESH_TOKEN);
      // The CLI gave the revoke of the replaced login its chance before exiting.
      expect(issuer.revokeRequests.map((r) => r.body.token)).toEqual([OLD_REFRESH]);
      for (const token of issuer.issued) expect(running.stdout + running.stderr).not.toContain(token);
    });

    it('exits 1 with the issuer text when device login is not enabled, and keeps the old login', async () => {
      issuer.behaviour.device = { usercodeReply: { status: 404, body: '' } };
      const result = await cli(['login', '--device-auth', '--codex-home', home.dir]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('authchart: login failed: device code login is not enabled for this Codex server. Use the browser login or verify the server URL.');
      expect(savedRefreshToken()).toBe(OLD_REFRESH);
    });

    it('logout removes the ChatGPT login and revokes its refresh token at the issuer before exiting', async () => {
      const result = await cli(['logout', '--codex-home', home.dir]);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(`Logged out; removed the credentials from ${path.join(home.dir, 'auth.json')}.\n`);
      expect(existsSync(path.join(home.dir, 'auth.json'))).toBe(false);
      expect(issuer.revokeRequests.map((r) => r.body)).toEqual([{ token: OLD_REFRESH, token_type_hint: 'refresh_token', client_id: 'app_EMoamEEZ73f0CkXaXp7hrann' }]);
      expect(result.stdout + result.stderr).not.toContain(OLD_REFRESH);
    });

    const withPty = existsSync('/usr/bin/script') ? it : it.skip;
    withPty('Ctrl-C in a real terminal (a pty, via script(1)) cancels: exit 130, polling stops, the old login untouched', async () => {
      issuer.behaviour.device = { pendingPolls: 1_000_000, interval: '1' };
      const onPty = ['-q', '-e', '-c', `${process.execPath} ${BIN} login --device-auth --codex-home ${home.dir}`, '/dev/null'];
      running = launch(onPty, { program: '/usr/bin/script' });
      await running.stdoutMatching(/press Ctrl-C to cancel/);
      running.child.stdin.write('\u0003');
      expect(await running.exited).toBe(130);
      expect(running.stdout).toContain('authchart: login cancelled (Ctrl-C); nothing was saved.');
      expect(savedRefreshToken()).toBe(OLD_REFRESH);
      expect(issuer.revokeRequests).toEqual([]);
      const polls = issuer.pollRequests.length;
      await new Promise((resolve) => setTimeout(resolve, 1200));
      expect(issuer.pollRequests.length).toBe(polls);
    });
  });
});

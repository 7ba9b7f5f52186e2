/**
 * `authchart login | logout | status`: the account commands a user of such a tool expects, run on the
 * same AuthCore as the app-server (in process, no app-server). User output goes to stdout, prompts,
 * instructions and errors to stderr, logs through the logger (stderr). No credential is ever printed,
 * and an API key is read from stdin only: never from argv, where the process list and the shell
 * history would keep it.
 *
 * Exit codes: 0 done; 1 failed (login refused or failed, not logged in for `status`); 2 bad usage or
 * configuration.
 */
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { Secret } from '../machines/secret';
import type { AuthNotification } from './auth/core';
import { AuthCore } from './auth/core';
import { createCredentialStore } from './auth/stores';
import { loadConfig, resolveCodexHome } from './config';
import { EXIT } from './exit';
import type { Logger } from './log';
import { authModeOf } from '../machines/views';


/** A usage problem: the CLI prints the message and exits with code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const KEY_FROM_STDIN_HINT =
  'pipe it on stdin (`printenv OPENAI_API_KEY | authchart login --api-key`), or run `authchart login --api-key` in a terminal and paste it at the hidden prompt';

/**
 * Refuses `--api-key=<value>` before the option parser sees it: commander would echo the unknown
 * option, key included, in its error message.
 */
export function refuseKeyInArgv(argv: readonly string[]): void {
  if (argv.some((arg) => arg.startsWith('--api-key='))) {
    throw new UsageError(`authchart login --api-key takes no value on the command line (it would be visible in the process list and shell history); ${KEY_FROM_STDIN_HINT}.`);
  }
}

interface CommonOptions {
  codexHome?: string;
}

async function openCore(options: CommonOptions, logger: Logger): Promise<AuthCore> {
  const config = await loadConfig(resolveCodexHome(options.codexHome));
  return AuthCore.open({ config, store: createCredentialStore(config, logger), logger });
}

function out(text: string): void {
  process.stdout.write(text);
}

function err(text: string): void {
  process.stderr.write(text);
}

/** Reads a secret from a terminal without echoing it (raw mode; Backspace edits, Ctrl-C aborts). */
function promptHidden(prompt: string): Promise<string | null> {
  return new Promise((resolve) => {
    const stdin = process.stdin;
    // Echo off before the prompt shows: a key typed or pasted right away must not appear.
    stdin.setRawMode(true);
    err(prompt);
    let value = '';
    stdin.resume();
    stdin.setEncoding('utf8');
    const finish = (result: string | null) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      err('\n');
      resolve(result);
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n') return finish(value);
        if (char === '\u0003' || char === '\u0004') return finish(null); // Ctrl-C, Ctrl-D
        if (char === '\u007f' || char === '\b') value = value.slice(0, -1);
        else if (char >= ' ') value += char;
      }
    };
    stdin.on('data', onData);
  });
}

/** Reads all of stdin (a pipe or a file). */
async function readAllStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** The API key from stdin: a hidden prompt on a terminal, else the whole input, trimmed; null = cancelled. */
async function readApiKey(): Promise<Secret | null> {
  let raw: string | null;
  if (process.stdin.isTTY) {
    raw = await promptHidden('Paste your OpenAI API key (input hidden), then press Enter: ');
    if (raw === null) return null;
  } else {
    raw = await readAllStdin();
  }
  const key = raw.trim();
  if (key === '') throw new UsageError(`no API key received (stdin was empty); ${KEY_FROM_STDIN_HINT}.`);
  if (/\s/.test(key)) {
    throw new UsageError('stdin holds more than one word; send only the API key (one line), e.g. `printenv OPENAI_API_KEY | authchart login --api-key`.');
  }
  return new Secret(key);
}

/** True where a browser can be opened for the user: a desktop session, not SSH, not a bare console. */
export function canOpenBrowser(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): boolean {
  if (env.SSH_CONNECTION || env.SSH_TTY || env.CI) return false;
  if (platform === 'darwin' || platform === 'win32') return true;
  return Boolean(env.DISPLAY || env.WAYLAND_DISPLAY);
}

/** Best effort: asks the desktop to open the URL; failures are only logged (the URL is printed anyway). */
function openBrowser(url: string, logger: Logger): void {
  const [command, args] =
    process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['rundll32', ['url.dll,FileProtocolHandler', url]]
        : ['xdg-open', [url]];
  try {
    const child = spawn(command, args, { detached: true, stdio: 'ignore' });
    child.on('error', (error) => logger.debug(`could not open a browser with ${command}: ${error.message}`));
    child.unref();
  } catch (error) {
    logger.debug(`could not open a browser with ${command}: ${(error as Error).message}`);
  }
}

async function loginWithApiKey(options: CommonOptions, logger: Logger): Promise<number> {
  const apiKey = await readApiKey();
  if (apiKey === null) {
    err('authchart: login cancelled; no API key was saved.\n');
    return EXIT.failed;
  }
  const core = await openCore(options, logger);
  try {
    const answer = await core.command({ type: 'login.apiKey', apiKey });
    if (!answer.ok) {
      err(`authchart: login failed: ${answer.message}\n`);
      return EXIT.failed;
    }
    out(`Logged in using an API key (saved to ${core.store.location}).\n`);
    return EXIT.ok;
  } finally {
    core.stop();
  }
}

async function loginWithBrowser(options: CommonOptions & { browser: boolean }, logger: Logger): Promise<number> {
  const core = await openCore(options, logger);
  const completions: Array<Extract<AuthNotification, { type: 'notify.loginCompleted' }>> = [];
  let wake: () => void = () => {};
  const stopListening = core.onNotification((notification) => {
    if (notification.type === 'notify.loginCompleted') {
      completions.push(notification);
      wake();
    }
  });
  let loginId: string | null = null;
  const onSigint = () => {
    err('\nCancelling the sign-in…\n');
    if (loginId) void core.command({ type: 'login.cancel', loginId });
  };
  try {
    const answer = await core.command({ type: 'login.chatgpt', originator: 'authchart' });
    if (!answer.ok) {
      err(`authchart: login failed: ${answer.message}\n`);
      return EXIT.failed;
    }
    const started = answer.value as { loginId: string; authUrl: string };
    loginId = started.loginId;
    // Listen for Ctrl-C before telling the user they may press it.
    process.on('SIGINT', onSigint);
    const port = new URL(new URL(started.authUrl).searchParams.get('redirect_uri') ?? 'http://localhost').port;
    const opening = options.browser && canOpenBrowser();
    err(
      `Sign in with ChatGPT: ${opening ? 'a browser should open; if it does not, ' : ''}open this URL in a browser on this machine:\n\n` +
        `  ${started.authUrl}\n\n` +
        `The sign-in comes back to http://localhost:${port}. If your browser runs on another machine, forward that port first\n` +
        `(e.g. ssh -L ${port}:localhost:${port} <this host>). Waiting for the sign-in to finish; press Ctrl-C to cancel.\n`,
    );
    if (opening) openBrowser(started.authUrl, logger);
    let completion = completions.find((c) => c.loginId === loginId);
    while (!completion) {
      await new Promise<void>((resolve) => (wake = resolve));
      completion = completions.find((c) => c.loginId === loginId);
    }
    if (!completion.success) {
      err(`authchart: login failed: ${completion.error ?? 'unknown error'}\n`);
      return EXIT.failed;
    }
    await core.whenIdle();
    const account = core.snapshot().context.account;
    out(
      `Logged in using ChatGPT${account?.email ? ` as ${account.email}` : ''} (plan ${account?.planType ?? 'unknown'}` +
        `${account?.accountId ? `, account ${account.accountId}` : ''}); saved to ${core.store.location}.\n`,
    );
    return EXIT.ok;
  } finally {
    process.off('SIGINT', onSigint);
    stopListening();
    core.stop();
  }
}

/** What `status` reports: never a token. */
export interface StatusReport {
  authMode: 'apikey' | 'chatgpt' | null;
  email: string | null;
  planType: string | null;
  accountId: string | null;
  store: string;
}

async function status(options: CommonOptions & { json?: boolean }, logger: Logger): Promise<number> {
  const core = await openCore(options, logger);
  try {
    const snapshot = core.snapshot();
    const mode = authModeOf(snapshot);
    const account = mode === 'chatgpt' ? snapshot.context.account : null;
    const report: StatusReport = {
      authMode: mode === 'chatgptAuthTokens' ? null : mode,
      email: account?.email ?? null,
      planType: account?.planType ?? null,
      accountId: account?.accountId ?? null,
      store: core.store.location,
    };
    if (options.json) {
      out(`${JSON.stringify(report)}\n`);
    } else if (report.authMode === 'apikey') {
      out(`Logged in using an API key\n  stored in:  ${report.store}\n`);
    } else if (report.authMode === 'chatgpt') {
      out(
        'Logged in using ChatGPT\n' +
          `  email:      ${report.email ?? '(none in the token)'}\n` +
          `  plan:       ${report.planType}\n` +
          `  account id: ${report.accountId ?? '(none in the token)'}\n` +
          `  stored in:  ${report.store}\n`,
      );
    } else {
      out(`Not logged in (no credentials in ${report.store}). Run \`authchart login\` to sign in.\n`);
    }
    return report.authMode === null ? EXIT.failed : EXIT.ok;
  } finally {
    core.stop();
  }
}

async function logout(options: CommonOptions, logger: Logger): Promise<number> {
  const core = await openCore(options, logger);
  try {
    const wasLoggedIn = authModeOf(core.snapshot()) !== null;
    const answer = await core.command({ type: 'logout' });
    if (!answer.ok) {
      err(`authchart: logout failed: ${answer.message}\n`);
      return EXIT.failed;
    }
    out(wasLoggedIn ? `Logged out; removed the credentials from ${core.store.location}.\n` : 'Not logged in; nothing to remove.\n');
    return EXIT.ok;
  } finally {
    core.stop();
  }
}

const CODEX_HOME_HELP = 'where config.toml and auth.json live (default: $CODEX_HOME or ~/.codex)';

/** Adds `login`, `logout` and `status` to the program; `setCode` receives each command's exit code. */
export function registerAccountCommands(program: Command, logger: Logger, setCode: (code: number) => void): void {
  program
    .command('login')
    .description('sign in with ChatGPT in a browser (prints the URL and waits), or save an API key read from stdin')
    .option('--api-key', 'read an OpenAI API key from stdin (a pipe, or a hidden prompt in a terminal) and save it; never pass the key as an argument')
    .option('--no-browser', 'do not try to open a browser, only print the URL (the default on headless machines and over SSH)')
    .option('--codex-home <dir>', CODEX_HOME_HELP)
    .allowExcessArguments(true)
    .action(async (opts: CommonOptions & { apiKey?: boolean; browser: boolean }, command: Command) => {
      if (command.args.length > 0) {
        // Never echo the arguments: the likeliest one is a key.
        throw new UsageError(`authchart login takes no arguments (got ${command.args.length}); to save an API key, ${KEY_FROM_STDIN_HINT}.`);
      }
      setCode(opts.apiKey ? await loginWithApiKey(opts, logger) : await loginWithBrowser(opts, logger));
    });
  program
    .command('logout')
    .description('remove the saved credentials (auth.json)')
    .option('--codex-home <dir>', CODEX_HOME_HELP)
    .action(async (opts: CommonOptions) => setCode(await logout(opts, logger)));
  program
    .command('status')
    .description('show how you are logged in: mode, email, plan and account id (never a token); exit code 1 when logged out')
    .option('--json', 'print one JSON object: {"authMode","email","planType","accountId","store"}')
    .option('--codex-home <dir>', CODEX_HOME_HELP)
    .action(async (opts: CommonOptions & { json?: boolean }) => setCode(await status(opts, logger)));
}

/**
 * `authchart login | logout | status`: the account commands a user of such a tool expects, run on the
 * same AuthCore as the app-server (in process, no app-server). User output goes to stdout, prompts,
 * instructions and errors to stderr, logs through the logger (stderr). No credential is ever printed,
 * and an API key is read from stdin only: never from argv, where the process list and the shell
 * history would keep it.
 *
 * Exit codes: 0 done; 1 failed (login refused or failed, not logged in for `status`); 2 bad usage or
 * configuration (an auth.json that cannot be read included); 130 login cancelled with Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { lstat, readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { waitFor } from 'xstate';
import type { AuthNotification } from './auth/core';
import { AuthCore } from './auth/core';
import { FileCredentialStore, type CredentialStore } from './auth/credentials';
import { createCredentialStore } from './auth/stores';
import { KEY_FROM_STDIN_HINT, UsageError, maskApiKey, readApiKey } from './cliInput';
import { loadConfig, resolveCodexHome } from './config';
import { CliExit, EXIT } from './exit';
import type { Logger } from './log';
import { authModeOf } from '../machines/views';

export { UsageError, refuseKeyInArgv } from './cliInput';

interface CommonOptions {
  codexHome?: string;
}

/** Opens the auth core; `check` looks at the store first, before the core reads (and logs about) it. */
async function openCore(options: CommonOptions, logger: Logger, check?: (store: CredentialStore) => Promise<void>): Promise<AuthCore> {
  const config = await loadConfig(resolveCodexHome(options.codexHome));
  for (const warning of config.warnings) logger.warn(warning);
  const store = createCredentialStore(config, logger);
  await check?.(store);
  return AuthCore.open({ config, store, logger });
}

function out(text: string): void {
  process.stdout.write(text);
}

function err(text: string): void {
  process.stderr.write(text);
}

/**
 * Why the saved credentials file exists but cannot be read (`EACCES`, `EISDIR`…), or null. The core
 * reads such a file as "logged out"; the account commands say what is really there.
 */
async function unreadable(store: CredentialStore): Promise<string | null> {
  if (!(store instanceof FileCredentialStore)) return null;
  try {
    await readFile(store.location);
    return null;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? null : (code ?? (error as Error).message);
  }
}

/** True when the store's file is there (whatever it holds). */
async function fileExists(store: CredentialStore): Promise<boolean> {
  if (!(store instanceof FileCredentialStore)) return false;
  return lstat(store.location).then(
    () => true,
    () => false,
  );
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
  if ('stopped' in apiKey) {
    err('authchart: login cancelled; no API key was saved.\n');
    return apiKey.stopped === 'ctrl-c' ? EXIT.interrupted : EXIT.failed;
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
    // A ChatGPT login the key replaced is revoked in the background; give it its short chance.
    await core.settleRevokes();
  }
}

/** What the user is told once a managed login has started: where to sign in (and, for a device login, the code). */
function instructions(kind: 'browser' | 'device', started: Record<string, string>, opening: boolean): void {
  if (kind === 'device') {
    // As Codex prints them: the URL and the code on stdout (a script may read them), the outcome on stderr.
    out(`Sign in with ChatGPT on any device: open\n\n  ${started.verificationUrl}\n\nand enter this one-time code:\n\n  ${started.userCode}\n\n`);
    err('Waiting for the code to be entered (it expires in 15 minutes); press Ctrl-C to cancel. Never share the code.\n');
    return;
  }
  const port = new URL(new URL(started.authUrl).searchParams.get('redirect_uri') ?? 'http://localhost').port;
  err(
    `Sign in with ChatGPT: ${opening ? 'a browser should open; if it does not, ' : ''}open this URL in a browser on this machine:\n\n` +
      `  ${started.authUrl}\n\n` +
      `The sign-in comes back to http://localhost:${port}. If your browser runs on another machine, forward that port first\n` +
      `(e.g. ssh -L ${port}:localhost:${port} <this host>), or use \`authchart login --device-auth\`. Waiting for the sign-in to finish; press Ctrl-C to cancel.\n`,
  );
}

/**
 * A managed ChatGPT login from the command line: in a browser, or with a device code. The existing
 * login stays in place until the new one is saved (Codex removes it first); Ctrl-C cancels cleanly.
 */
async function loginManaged(kind: 'browser' | 'device', options: CommonOptions & { browser: boolean }, logger: Logger): Promise<number> {
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
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
    err('\nCancelling the sign-in…\n');
    if (loginId) void core.command({ type: 'login.cancel', loginId });
  };
  // The outcome: on stdout after a browser login (as before), on stderr after a device login (as Codex).
  const outcome = kind === 'device' ? err : out;
  try {
    const answer = await core.command(kind === 'device' ? { type: 'login.deviceCode' } : { type: 'login.chatgpt', originator: 'authchart' });
    if (!answer.ok) {
      err(`authchart: login failed: ${answer.message}\n`);
      return EXIT.failed;
    }
    const started = answer.value as Record<string, string>;
    loginId = started.loginId;
    // Listen for Ctrl-C before telling the user they may press it.
    process.on('SIGINT', onSigint);
    const opening = kind === 'browser' && options.browser && canOpenBrowser();
    instructions(kind, started, opening);
    if (opening) openBrowser(started.authUrl, logger);
    let completion = completions.find((c) => c.loginId === loginId);
    while (!completion) {
      await new Promise<void>((resolve) => (wake = resolve));
      completion = completions.find((c) => c.loginId === loginId);
    }
    if (!completion.success && interrupted) {
      err('authchart: login cancelled (Ctrl-C); nothing was saved.\n');
      return EXIT.interrupted;
    }
    if (!completion.success) {
      err(`authchart: login failed: ${completion.error ?? 'unknown error'}\n`);
      return EXIT.failed;
    }
    await core.whenIdle();
    const account = core.snapshot().context.account;
    outcome(
      `Logged in using ChatGPT${account?.email ? ` as ${account.email}` : ''} (plan ${account?.planType ?? 'unknown'}` +
        `${account?.accountId ? `, account ${account.accountId}` : ''}); saved to ${core.store.location}.\n`,
    );
    return EXIT.ok;
  } finally {
    process.off('SIGINT', onSigint);
    stopListening();
    core.stop();
    // The login this one replaced is revoked in the background; give it its short chance before exiting.
    await core.settleRevokes();
  }
}

/** What `status` reports: never a token. */
export interface StatusReport {
  authMode: 'apikey' | 'chatgpt' | null;
  /** The saved API key masked like `codex login status` does (`sk-proj-***1a2b`); null for other modes. */
  maskedApiKey: string | null;
  email: string | null;
  planType: string | null;
  accountId: string | null;
  /** The workspace's name from workspace discovery, when it answered in time (issue 14); else null. */
  workspaceName: string | null;
  store: string;
}

/** How long `status` gives the start-up workspace discovery to name the workspace. */
const STATUS_DISCOVERY_GRACE_MS = 3000;

/** The masked API key of an API-key login, read from the store (the chart never holds the key). */
async function maskedKeyOf(store: CredentialStore): Promise<string | null> {
  const loaded = await store.load();
  return loaded.status === 'ok' && loaded.credentials.mode === 'apiKey' ? maskApiKey(loaded.credentials.apiKey.reveal()) : null;
}

async function status(options: CommonOptions & { json?: boolean }, logger: Logger): Promise<number> {
  const core = await openCore(options, logger, async (store) => {
    const problem = await unreadable(store);
    if (problem) {
      throw new CliExit(
        EXIT.usage,
        `cannot read the saved credentials ${store.location} (${problem}), so the login state is unknown. ` +
          'Make the file readable by you (chmod 600 it) or remove it (`authchart logout`).',
      );
    }
  });
  try {
    // A saved ChatGPT login is discovered at start-up; its answer (or failure) is waited for briefly.
    if (core.snapshot().matches({ workspace: 'discovering' })) {
      await waitFor(core.actor, (s) => !s.matches({ workspace: 'discovering' }), { timeout: STATUS_DISCOVERY_GRACE_MS }).catch(() => undefined);
    }
    const snapshot = core.snapshot();
    const mode = authModeOf(snapshot);
    const account = mode === 'chatgpt' ? snapshot.context.account : null;
    const report: StatusReport = {
      authMode: mode === 'chatgptAuthTokens' ? null : mode,
      maskedApiKey: mode === 'apikey' ? await maskedKeyOf(core.store) : null,
      email: account?.email ?? null,
      planType: account?.planType ?? null,
      accountId: account?.accountId ?? null,
      workspaceName: mode === 'chatgpt' ? (snapshot.context.workspace?.workspaceName ?? null) : null,
      store: core.store.location,
    };
    if (options.json) {
      out(`${JSON.stringify(report)}\n`);
    } else if (report.authMode === 'apikey') {
      out(`Logged in using an API key\n  key:        ${report.maskedApiKey}\n  stored in:  ${report.store}\n`);
    } else if (report.authMode === 'chatgpt') {
      out(
        'Logged in using ChatGPT\n' +
          `  email:      ${report.email ?? '(none in the token)'}\n` +
          `  plan:       ${report.planType}\n` +
          `  account id: ${report.accountId ?? '(none in the token)'}\n` +
          (report.workspaceName === null ? '' : `  workspace:  ${report.workspaceName}\n`) +
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

/** Why a credentials file that is there does not log anyone in: it cannot be read, or holds nothing usable. */
async function uselessBecause(store: CredentialStore): Promise<string> {
  const code = await unreadable(store);
  if (code) return `it could not be read: ${code}`;
  const loaded = await store.load();
  return loaded.status === 'corrupt' ? `it held no usable credentials: ${loaded.reason}` : 'it held no credentials';
}

async function logout(options: CommonOptions, logger: Logger): Promise<number> {
  let existed = false;
  const core = await openCore(options, logger, async (store) => {
    existed = await fileExists(store);
  });
  try {
    const wasLoggedIn = authModeOf(core.snapshot()) !== null;
    const problem = existed && !wasLoggedIn ? await uselessBecause(core.store) : null;
    const answer = await core.command({ type: 'logout' });
    if (!answer.ok) {
      err(`authchart: logout failed: ${answer.message}\n`);
      return EXIT.failed;
    }
    const removed = existed && !(await fileExists(core.store));
    if (wasLoggedIn) out(`Logged out; removed the credentials from ${core.store.location}.\n`);
    else if (removed) out(`Not logged in; removed ${core.store.location} anyway (${problem}).\n`);
    else out('Not logged in; nothing to remove.\n');
    return EXIT.ok;
  } finally {
    core.stop();
    // A ChatGPT login's tokens are revoked at the issuer (§13.2): bounded, and a failure only logged.
    await core.settleRevokes();
  }
}

const CODEX_HOME_HELP = 'where config.toml and auth.json live (default: $CODEX_HOME or ~/.codex)';

/** Adds `login`, `logout` and `status` to the program; `setCode` receives each command's exit code. */
export function registerAccountCommands(program: Command, logger: Logger, setCode: (code: number) => void): void {
  program
    .command('login')
    .description('sign in with ChatGPT in a browser (prints the URL and waits) or with a device code, or save an API key read from stdin')
    .option('--api-key', 'read an OpenAI API key from stdin (a pipe, or a hidden prompt in a terminal) and save it; never pass the key as an argument')
    .option('--device-auth', 'sign in with a one-time code entered on any device (for SSH, containers, remote machines): prints a URL and a code')
    .option('--no-browser', 'do not try to open a browser, only print the URL (the default on headless machines and over SSH)')
    .option('--codex-home <dir>', CODEX_HOME_HELP)
    .allowExcessArguments(true)
    .action(async (opts: CommonOptions & { apiKey?: boolean; deviceAuth?: boolean; browser: boolean }, command: Command) => {
      if (command.args.length > 0) {
        // Never echo the arguments: the likeliest one is a key.
        throw new UsageError(`login takes no arguments (got ${command.args.length}); to save an API key, ${KEY_FROM_STDIN_HINT}.`);
      }
      if (opts.apiKey && opts.deviceAuth) throw new UsageError('choose one of --api-key and --device-auth.');
      setCode(opts.apiKey ? await loginWithApiKey(opts, logger) : await loginManaged(opts.deviceAuth ? 'device' : 'browser', opts, logger));
    });
  program
    .command('logout')
    .description('remove the saved credentials (auth.json or the keyring) and revoke a ChatGPT login at the issuer')
    .option('--codex-home <dir>', CODEX_HOME_HELP)
    .action(async (opts: CommonOptions) => setCode(await logout(opts, logger)));
  program
    .command('status')
    .description('show how you are logged in: mode, email, plan and account id (never a token); exit code 1 when logged out')
    .option('--json', 'print one JSON object: {"authMode","maskedApiKey","email","planType","accountId","workspaceName","store"}')
    .option('--codex-home <dir>', CODEX_HOME_HELP)
    .action(async (opts: CommonOptions & { json?: boolean }) => setCode(await status(opts, logger)));
}

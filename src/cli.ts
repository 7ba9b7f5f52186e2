/**
 * The `authchart` command line: `authchart app-server [--listen stdio://] [--codex-home DIR] [--inspect[=PORT]]`,
 * `authchart visualize [--out DIR] [--readme FILE]`, and the account commands `login`, `logout`, `status`
 * (src/cliAccount.ts).
 *
 * A parent spawns the app-server for every window or session, so its spawn path loads only what the
 * handshake needs: a plain `app-server` command line is read without commander, and the auth core
 * (XState, the chart, the credential store) loads right after the initialize response, not before it.
 * The chart definition, the inspector, the visualizer and the account commands load only for the
 * commands that use them.
 */
import * as path from 'node:path';
import type { Command as CommandClass } from 'commander';
import type { AuthCore, AuthCoreOptions } from './auth/core';
import { whenWritesSettled } from './auth/storeFiles';
import { createCredentialStore } from './auth/stores';
import { ConfigError, loadConfig, resolveCodexHome } from './config';
import { CliExit, EXIT } from './exit';
import { createLogger, type Logger } from './log';
import { AppServer } from './rpc/server';
import { version } from '../package.json';

export { CliExit, EXIT };

/** The port of `--inspect[=PORT]`: `true` (no value) means 0, any free port. */
export function inspectPort(value: string | boolean): number {
  if (value === true) return 0;
  const port = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || port > 65535) {
    throw new CliExit(EXIT.usage, `invalid --inspect port ${JSON.stringify(value)}: give a TCP port from 0 to 65535 (0 = any free port).`);
  }
  return port;
}

/** Options of `authchart app-server`. */
export interface AppServerCliOptions {
  listen?: string;
  codexHome?: string;
  /** `--inspect[=PORT]`: serve the live inspector on 127.0.0.1; absent or false = nothing listens. */
  inspect?: string | boolean;
}

/**
 * Reads `app-server [--listen URL] [--codex-home DIR]` (also `--opt=value`) without commander, or
 * returns null for anything else (help, other commands, `--inspect`, unknown or incomplete options),
 * which commander then parses and reports.
 */
export function parseAppServerArgs(argv: readonly string[]): AppServerCliOptions | null {
  if (argv[0] !== 'app-server') return null;
  const options: AppServerCliOptions = {};
  for (let i = 1; i < argv.length; i += 1) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    if (name !== '--listen' && name !== '--codex-home') return null;
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined || (eq === -1 && value.startsWith('-'))) return null;
    if (name === '--listen') options.listen = value;
    else options.codexHome = value;
  }
  return options;
}

/** Starts the live inspector; its code (HTTP, WebSocket, Graphviz WASM) and the chart load only here. */
async function openInspector(value: string | boolean, logger: Logger) {
  const port = inspectPort(value);
  const [{ startInspector, InspectorStartError }, { authMachine }] = await Promise.all([import('./inspect/index.js'), import('../machines/auth.machine.js')]);
  try {
    const inspector = await startInspector({ port, machine: authMachine, logger });
    // Printed whatever AUTHCHART_LOG says: the person who asked for the inspector needs the address.
    process.stderr.write(`authchart: inspector listening on ${inspector.url}\n`);
    return inspector;
  } catch (error) {
    if (error instanceof InspectorStartError) throw new CliExit(EXIT.failed, `cannot start the inspector: ${error.message}`);
    throw error;
  }
}

/** Loads the auth core module and opens the core (kept out of the spawn path until then). */
async function openCore(options: AuthCoreOptions): Promise<AuthCore> {
  const { AuthCore: Core } = await import('./auth/core.js');
  return Core.open(options);
}

/** After SIGTERM or SIGINT the process exits within this time, whatever is still running (1.8 s). */
export const SIGNAL_EXIT_DEADLINE_MS = 1800;

/**
 * Turns off V8's bets that young objects will live long, for the app-server, after the handshake
 * (node:v8 costs ~2 ms of start-up) and before the auth core loads: allocation-site pretenuring (objects
 * from a literal whose objects survived a scavenge are allocated straight into the old generation), page
 * promotion (a mostly-live young page is moved whole to the old generation at a full GC), and the growth
 * of the young generation (V8 doubles it each time as many bytes have survived scavenges as it holds;
 * the flag is read at each growth, so set now it keeps the 1 MiB semi-space the handshake ran in). The
 * app-server's objects live for one request: under a pipelined burst the first two turned per-request
 * garbage into old-space garbage, +7-12 MiB of peak RSS in about two runs of three; and what survives is
 * the core's own start-up (its modules, the chart, the start-up discovery's HTTP client), enough to double
 * the young generation once at start-up for nothing: +4 MiB of RSS, while a scavenge of a young generation
 * where nothing survives costs ~0.3 ms either way (docs/performance.md). The flags only move where V8 keeps
 * objects; a failure to set them changes nothing else.
 */
async function tuneHeapForServing(logger: Logger): Promise<void> {
  try {
    const { setFlagsFromString } = await import('node:v8');
    setFlagsFromString('--no-allocation-site-pretenuring');
    setFlagsFromString('--no-page-promotion');
    setFlagsFromString('--semi-space-growth-factor=1');
  } catch (error) {
    logger.debug(`V8 heap flags not set: ${(error as Error).message}`);
  }
}

/** Runs the stdio app-server until stdin ends or SIGTERM/SIGINT; resolves with the exit code. */
export async function runAppServer(options: AppServerCliOptions, logger: Logger = createLogger()): Promise<number> {
  const listen = options.listen ?? 'stdio://';
  if (listen !== 'stdio://') {
    throw new CliExit(EXIT.usage, `unsupported --listen URL ${JSON.stringify(listen)}: authchart app-server serves only stdio:// (newline-delimited JSON-RPC on stdin/stdout).`);
  }
  const codexHome = resolveCodexHome(options.codexHome);
  const config = await loadConfig(codexHome);
  for (const warning of config.warnings) logger.warn(warning);
  const store = createCredentialStore(config, logger);
  const inspector = options.inspect === undefined || options.inspect === false ? null : await openInspector(options.inspect, logger);
  let core: Promise<AuthCore> | null = null;
  // The heap is tuned before the core loads: set while it loaded, the flags still let 3 runs of 6 go high.
  const loadCore = () => (core ??= tuneHeapForServing(logger).then(() => openCore({ config, store, logger, inspect: inspector?.inspect })));
  const server = new AppServer({ input: process.stdin, output: process.stdout, core: loadCore, config, logger, version });
  let signalled = false;
  const stop = (signal: NodeJS.Signals) => {
    signalled = true;
    logger.info(`received ${signal}: stopping (a write under way finishes first)`);
    server.close();
    // Whatever still holds the process (a parent that stopped reading stdout, a stuck handle), it ends
    // within 2 s of the signal. Store writes are atomic (temp file + rename), so even this exit leaves
    // auth.json whole.
    setTimeout(() => process.exit(EXIT.ok), SIGNAL_EXIT_DEADLINE_MS).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') logger.debug('stdout closed by the parent');
    server.close();
  });
  // The last line of defence for "every request gets one answer": if the process runs out of work with
  // requests unanswered (a bug), answer them rather than exit silently.
  const onBeforeExit = () => {
    const abandoned = server.answerAbandoned('internal error: authchart had nothing left to answer this request with');
    if (abandoned > 0) logger.error(`answered ${abandoned} request(s) that would have gone unanswered; please report this as a bug`);
  };
  process.on('beforeExit', onBeforeExit);
  server.listen();
  await server.closed;
  process.off('beforeExit', onBeforeExit);
  process.off('SIGTERM', stop);
  process.off('SIGINT', stop);
  const opened = core ? await (core as Promise<AuthCore>).catch(() => null) : null;
  opened?.stop();
  // A logout's revoke runs in the background; an exiting process gives it a short, bounded chance
  // (after a signal, the 1.8 s deadline above still ends the process).
  await opened?.settleRevokes();
  if (signalled) await whenWritesSettled();
  await inspector?.close();
  process.stdin.pause();
  return EXIT.ok;
}

/** `authchart visualize`: writes the chart's Mermaid, DOT and SVG pictures (and the Mermaid block of a Markdown file). */
export async function runVisualize(options: { out: string; readme?: string }): Promise<number> {
  const [{ writeVisualizations }, { authMachine }] = await Promise.all([import('./visualize/index.js'), import('../machines/auth.machine.js')]);
  const written = await writeVisualizations(authMachine, path.resolve(options.out), options.readme === undefined ? undefined : path.resolve(options.readme));
  for (const file of written) process.stdout.write(`wrote ${path.relative(process.cwd(), file) || file}\n`);
  return EXIT.ok;
}

function buildProgram(Command: typeof CommandClass, logger: Logger, setCode: (code: number) => void): CommandClass {
  const program = new Command('authchart')
    .description('Auth core for agent app-servers: the Codex account protocol over stdio, driven by a statechart.')
    .version(version)
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });
  program
    .command('app-server')
    .description('serve the account protocol as newline-delimited JSON-RPC on stdin/stdout')
    .option('--listen <url>', 'transport to serve (only stdio:// is supported)', 'stdio://')
    .option('--codex-home <dir>', 'where config.toml and auth.json live (default: $CODEX_HOME or ~/.codex)')
    .option('--inspect [port]', 'serve the live statechart inspector on 127.0.0.1 (default port 0 = any free; the URL goes to stderr)')
    .action(async (opts: AppServerCliOptions) => {
      setCode(await runAppServer(opts, logger));
    });
  program
    .command('visualize')
    .description('write the statechart pictures (Mermaid, DOT, SVG) generated from the machine definition')
    .option('--out <dir>', 'folder to write auth.mmd, auth.dot and auth.svg into', 'visualizations')
    .option('--readme <file>', 'also refresh the generated Mermaid block of this Markdown file (the project keeps it in docs/statechart.md)')
    .action(async (opts: { out: string; readme?: string }) => {
      setCode(await runVisualize(opts));
    });
  return program;
}

/**
 * Parses `argv` with commander (loaded on first use: help, errors, commands other than a plain
 * app-server), with the account commands (loaded with it).
 */
async function runProgram(argv: string[], logger: Logger): Promise<number> {
  const [{ Command, CommanderError }, account] = await Promise.all([import('commander'), import('./cliAccount.js')]);
  let code: number = EXIT.ok;
  try {
    account.refuseKeyInArgv(argv);
    const program = buildProgram(Command, logger, (c) => (code = c));
    account.registerAccountCommands(program, logger, (c) => (code = c));
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (error instanceof account.UsageError) throw new CliExit(EXIT.usage, error.message);
    throw error;
  }
}

/** Entry point of bin/authchart.js. */
export async function main(argv: string[]): Promise<number> {
  const logger = createLogger();
  try {
    const appServer = parseAppServerArgs(argv);
    return appServer ? await runAppServer(appServer, logger) : await runProgram(argv, logger);
  } catch (error) {
    if (error instanceof CliExit || error instanceof ConfigError) {
      process.stderr.write(`authchart: ${error.message}\n`);
      return error instanceof CliExit ? error.code : EXIT.usage;
    }
    process.stderr.write(`authchart: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
    return EXIT.failed;
  }
}

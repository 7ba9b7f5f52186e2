/**
 * How `authchart login --api-key` gets the key: from stdin only (a pipe, or a hidden prompt on a
 * terminal), never from argv, where the process list and the shell history would keep it.
 */
import { Secret } from '../machines/secret';

/** A usage problem: the CLI prints the message and exits with code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** How to hand authchart a key, quoted by every message that refuses one. */
export const KEY_FROM_STDIN_HINT =
  'pipe it on stdin (`printenv OPENAI_API_KEY | authchart login --api-key`), or run `authchart login --api-key` in a terminal and paste it at the hidden prompt';

/**
 * Refuses `--api-key=<value>` before the option parser sees it: commander would echo the unknown
 * option, key included, in its error message.
 */
export function refuseKeyInArgv(argv: readonly string[]): void {
  if (argv.some((arg) => arg.startsWith('--api-key='))) {
    throw new UsageError(`login --api-key takes no value on the command line (it would be visible in the process list and shell history); ${KEY_FROM_STDIN_HINT}.`);
  }
}

/** What the hidden prompt got: the typed text, or how the user stopped typing without pressing Enter. */
type PromptResult = { typed: string } | { stopped: 'ctrl-c' | 'ctrl-d' };

/** Reads a secret from a terminal without echoing it (raw mode; Backspace edits, Ctrl-C and Ctrl-D stop). */
function promptHidden(prompt: string): Promise<PromptResult> {
  return new Promise((resolve) => {
    const stdin = process.stdin;
    // Echo off before the prompt shows: a key typed or pasted right away must not appear.
    stdin.setRawMode(true);
    process.stderr.write(prompt);
    let value = '';
    stdin.resume();
    stdin.setEncoding('utf8');
    const finish = (result: PromptResult) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      resolve(result);
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n') return finish({ typed: value });
        if (char === '\u0003') return finish({ stopped: 'ctrl-c' });
        if (char === '\u0004') return finish({ stopped: 'ctrl-d' });
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

/**
 * The API key from stdin: a hidden prompt on a terminal, else the whole input, trimmed. A prompt left
 * with Ctrl-C or Ctrl-D answers how it was left; an empty or many-word input is a UsageError.
 */
export async function readApiKey(): Promise<Secret | { stopped: 'ctrl-c' | 'ctrl-d' }> {
  let raw: string;
  if (process.stdin.isTTY) {
    const answer = await promptHidden('Paste your OpenAI API key (input hidden), then press Enter: ');
    if ('stopped' in answer) return answer;
    raw = answer.typed;
  } else {
    raw = await readAllStdin();
  }
  const key = raw.trim();
  if (key === '') throw new UsageError(`no API key received (stdin was empty); ${KEY_FROM_STDIN_HINT}.`);
  // Bytes that are not UTF-8 were replaced while decoding: the key would be silently altered (as on the wire, refuse it).
  if (key.includes('\uFFFD')) throw new UsageError('the API key on stdin is not valid UTF-8 text; send the key exactly as issued.');
  if (/\s/.test(key)) {
    throw new UsageError('stdin holds more than one word; send only the API key (one line), e.g. `printenv OPENAI_API_KEY | authchart login --api-key`.');
  }
  return new Secret(key);
}

/**
 * An API key as `status` shows it, the way `codex login status` does: the first 8 characters, `***`,
 * and the last 4; a key of 13 characters or fewer is all stars.
 */
export function maskApiKey(key: string): string {
  return key.length <= 13 ? '***' : `${key.slice(0, 8)}***${key.slice(-4)}`;
}

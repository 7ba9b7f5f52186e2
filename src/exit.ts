/**
 * Exit codes of the command line and the error that carries one, shared by every subcommand.
 */

/** Exit codes: 0 done, 1 failed, 2 bad usage or configuration, 130 cancelled with Ctrl-C (128 + SIGINT, as shells report it). */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

/** Thrown to end the CLI with a message and an exit code. */
export class CliExit extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

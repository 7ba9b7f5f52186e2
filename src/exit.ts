/**
 * Exit codes of the command line and the error that carries one, shared by every subcommand.
 */

/** Exit codes: 0 done, 1 failed, 2 bad usage or configuration. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** Thrown to end the CLI with a message and an exit code. */
export class CliExit extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

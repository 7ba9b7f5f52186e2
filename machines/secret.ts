/**
 * A secret value (API key, access/id/refresh token) that cannot leak by accident.
 *
 * The bytes live in a private field: JSON.stringify, util.inspect, template strings and structured
 * logging all see `[REDACTED]`. Only code that calls `reveal()` on purpose (the credential store, the
 * HTTP client setting an Authorization header) ever touches the value. Events that carry credentials into
 * the chart carry them as Secrets, so an inspector or a logger that dumps events stays clean structurally.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The raw value. Call only where the value must leave the process (a header, the credential file). */
  reveal(): string {
    return this.#value;
  }

  /** True when both hold the same bytes (compares without exposing either). */
  equals(other: Secret | null | undefined): boolean {
    return other instanceof Secret && other.#value === this.#value;
  }

  toJSON(): string {
    return '[REDACTED]';
  }

  toString(): string {
    return '[REDACTED]';
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return 'Secret([REDACTED])';
  }
}

/**
 * Zod errors as `field: problem` text, for messages that name the faulty field (never its value).
 */

/** Turns a zod error into `field: problem` text for a -32602 message. */
export function describeIssues(error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }): string {
  return error.issues
    .map((issue) => {
      const field = issue.path.length > 0 ? issue.path.join('.') : 'params';
      return `${field}: ${issue.message}`;
    })
    .join('; ');
}

/**
 * Zod errors as `field: problem` text, for messages that name the faulty field (never its value).
 */
import type { z } from 'zod';

/** Turns a zod error into `field: problem` text for a -32602 message. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const field = issue.path.length > 0 ? issue.path.join('.') : 'params';
      return `${field}: ${issue.message}`;
    })
    .join('; ');
}

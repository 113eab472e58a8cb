// Text podshell prints on its own account (errors, notices, labels, file names) may come from
// the server or the pod. Control characters in it would reach the user's terminal as commands
// (set the title, change colours, move the cursor), so they are shown instead: `\x1b`, `\n`.
// The remote command's own output never passes through here: it stays byte-exact.

const escapes: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * `text` with every C0 control, DEL and C1 control written out visibly (`\x1b`, `\n`, `\x9b`),
 * so that it prints as one inert line.
 */
export function sanitize(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => escapes[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** The same, line by line: for podshell's own multi-line messages, whose line breaks are meant. */
export function sanitizeLines(text: string): string {
  return text.split('\n').map(sanitize).join('\n');
}

// How a long-running command (`podshell sandbox`, `podshell web`) lives: for as long as whatever
// started it (a terminal, npm, a shell, a test) wants it.

/** How long a clean close() may take after a stop request before podshell exits regardless. */
export const CLOSE_GRACE_MS = 3000;
/** How often the parent process is checked (it is gone when podshell's parent pid changes). */
export const PARENT_POLL_MS = 300;

/**
 * Resolves when the command should stop: the first SIGINT, SIGTERM or SIGHUP, or the parent
 * process going away (podshell is then re-parented, and `process.ppid` changes). From the first
 * stop request on, a second signal, or a clean shutdown still running after CLOSE_GRACE_MS, ends
 * the process at once (the sandbox runtime's watchdog then kills every container process).
 * `what` names the command in those messages.
 */
export function stopRequested(what: string): Promise<string> {
  const parent = process.ppid;
  return new Promise((resolve) => {
    let requested = false;
    const request = (why: string) => {
      if (requested) {
        process.stderr.write(`podshell: ${what}: ${why} while stopping; exiting now\n`);
        process.exit(1);
      }
      requested = true;
      clearInterval(poll);
      setTimeout(() => {
        process.stderr.write(`podshell: ${what}: not stopped after ${CLOSE_GRACE_MS} ms; exiting now\n`);
        process.exit(1);
      }, CLOSE_GRACE_MS).unref();
      resolve(why);
    };
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => request(signal));
    const poll = setInterval(() => {
      if (process.ppid !== parent) request('parent process gone');
    }, PARENT_POLL_MS).unref();
  });
}

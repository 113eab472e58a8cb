// The local terminal during `exec -i -t`: raw mode that is restored on every way out (normal
// exit, error, signal), and the window size with its changes.

import type { ReadStream, WriteStream } from 'node:tty';

export interface TerminalSize {
  cols: number;
  rows: number;
}

export function terminalSize(out: WriteStream): TerminalSize {
  return { cols: out.columns || 80, rows: out.rows || 24 };
}

/**
 * Put `input` in raw mode until the returned function is called. Restoration also runs on
 * process exit, uncaught errors and the usual termination signals.
 */
export function enterRawMode(input: ReadStream): () => void {
  if (!input.isTTY) return () => {};
  const wasRaw = input.isRaw;
  input.setRawMode(true);
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    try {
      input.setRawMode(wasRaw);
    } catch {
      // the terminal is gone
    }
    process.off('exit', restore);
    for (const signal of signals) process.off(signal, onSignal);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    restore();
    process.kill(process.pid, signal);
  };
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGINT', 'SIGQUIT'];
  process.once('exit', restore);
  for (const signal of signals) process.once(signal, onSignal);
  return restore;
}

/** Call `onResize` with the new size whenever the terminal window changes; returns a stop function. */
export function watchResize(out: WriteStream, onResize: (size: TerminalSize) => void): () => void {
  const handler = () => onResize(terminalSize(out));
  out.on('resize', handler);
  return () => out.off('resize', handler);
}

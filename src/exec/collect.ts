// Young-generation collections while sessions stream. Every frame a session receives or sends
// is a new buffer (ws allocates each message it reads and each masked frame it writes), dead a
// moment later. V8 frees such a buffer at its next young-generation collection, but a process
// that streams allocates few JavaScript objects, so those come rarely: the dead buffers pile up
// to V8's external-memory limit (64 MiB) and go only in the full collection it then triggers.
// One young-generation collection per 2 MiB moved keeps them to a few MiB, and costs less CPU
// than the full collections it replaces. Off unless turned on: the CLI does, for its one
// session; a library caller may (it affects the whole process).

type Collect = (options: { type: 'minor' }) => void;

/** Bytes moved, either way, by every session between two collections, unless told otherwise. */
const defaultEvery = 2 * 1024 * 1024; // 2 MiB

let enabled = false;
let collectEvery = defaultEvery;
let collect: Collect | null = null;
let moved = 0;

/**
 * Collect the young generation every `every` bytes (2 MiB) that sessions move, from now on.
 * Nothing happens before the first of them (a short command pays nothing). A consumer that holds
 * each chunk longer wants a longer interval: a buffer still held at two collections is promoted
 * to the old generation, where, dead, it waits for a full collection.
 */
export function collectWhileStreaming(every = defaultEvery): void {
  enabled = true;
  collectEvery = every;
}

/**
 * `gc` when Node runs with `--expose-gc`; otherwise V8 exposes it for one new context only (the
 * flag is turned back off at once, so no other context gets a `gc` global).
 */
function collector(): Collect {
  const exposed = (globalThis as { gc?: unknown }).gc;
  if (typeof exposed === 'function') return exposed as Collect;
  const v8 = process.getBuiltinModule('node:v8');
  const vm = process.getBuiltinModule('node:vm');
  v8.setFlagsFromString('--expose-gc');
  try {
    return vm.runInNewContext('gc') as Collect;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

/** A session moved `bytes` (a frame in or out): collect when 2 MiB went by since the last time. */
export function countMoved(bytes: number): void {
  if (!enabled) return;
  moved += bytes;
  if (moved < collectEvery) return;
  moved = 0;
  collect ??= collector();
  collect({ type: 'minor' });
}

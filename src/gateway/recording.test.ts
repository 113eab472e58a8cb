import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { Recording } from './recording.ts';

const header = { cols: 80, rows: 24, title: 'demo/main (default, c)', env: { TERM: 'xterm-256color' } };

function lines(file: string): unknown[] {
  return readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as unknown);
}

function withFile(fn: (file: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'podshell-rec-'));
  try {
    fn(join(dir, 'x.cast'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a character split across reads is written whole, in the event that completes it', () => {
  withFile((file) => {
    const r = new Recording(file, header, false);
    r.output(Uint8Array.of(0x61, 0xe2, 0x82)); // "a" and the first two bytes of €
    r.output(Uint8Array.of(0xac, 0x62)); // the last byte, "b"
    r.close();
    const [head, ...events] = lines(file) as [Record<string, unknown>, [number, string, string][]];
    assert.equal(head.version, 2);
    assert.deepEqual(events.map(([, k, t]) => [k, t]), [['o', 'a'], ['o', '€b']]);
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });
});

test('an incomplete character at the end becomes U+FFFD; input only when asked; resizes as COLSxROWS', () => {
  withFile((file) => {
    const r = new Recording(file, header, false);
    r.input(Buffer.from('secret\n'));
    r.resize(100, 30);
    r.output(Uint8Array.of(0xe2, 0x82));
    r.close();
    r.output(Buffer.from('after close'));
    const events = (lines(file).slice(1) as [number, string, string][]).map(([, k, t]) => [k, t]);
    assert.deepEqual(events, [['r', '100x30'], ['o', '\ufffd']]);
  });
  withFile((file) => {
    const r = new Recording(file, header, true);
    r.input(Uint8Array.of(0x68, 0xc3));
    r.input(Uint8Array.of(0xa9));
    r.close();
    assert.deepEqual((lines(file).slice(1) as [number, string, string][]).map(([, k, t]) => [k, t]), [['i', 'h'], ['i', 'é']]);
  });
});

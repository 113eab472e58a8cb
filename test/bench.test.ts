// The benchmark harness (bench/run.ts) runs once in its tiny mode, so it cannot rot: every row
// runs against a real sandbox and the report is written. Nothing here looks at the numbers.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { BenchReport } from '../bench/model.ts';
import { BEGIN, END, writeReport } from '../bench/report.ts';

const root = new URL('..', import.meta.url).pathname;

function runBench(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'bench', 'run.ts'), ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

test('npm run bench -- --tiny runs every row against one sandbox and writes the report', { timeout: 175_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'podshell-bench-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'RESULTS.md');
  const json = join(dir, 'results.json');
  const { code, stderr } = await runBench(['--tiny', '--out', out, '--json', json]);
  assert.equal(code, 0, stderr.slice(-3000));

  const report = JSON.parse(readFileSync(json, 'utf8')) as BenchReport;
  assert.equal(report.mode, 'tiny');
  assert.deepEqual(
    report.rows.map((r) => r.id),
    ['oneshot', 'rate', 'stdout', 'stdin', 'cp-up', 'cp-down', 'fanin'],
  );
  for (const row of report.rows) {
    assert.equal(row.rounds, 2, row.id);
    for (const contender of row.contenders) {
      // kubectl is optional on a developer's machine; everything else is ours or from npm.
      if (contender.id === 'kubectl' && contender.errors.some((e) => e.includes('no kubectl'))) continue;
      assert.equal(contender.samples.filter((s) => s !== null).length, 2, `${row.id} / ${contender.label}: ${contender.errors.join('; ')}`);
    }
  }
  assert.deepEqual(
    report.ceilings.map((c) => [c.name, c.mibPerSecond.length]),
    [
      ['local pipe', 2],
      ['bare ws, loopback', 2],
    ],
  );

  const text = readFileSync(out, 'utf8');
  assert.ok(text.includes(BEGIN) && text.includes(END));
  assert.match(text, /^\| metric \| workload \| rounds \| podshell CLI \|/m);
  for (const title of ['one-shot exec', 'in-process exec rate', 'stdout throughput', 'stdin throughput', 'cp upload', 'cp download', 'fan-in']) {
    assert.match(text, new RegExp(`^\\| ${title}`, 'm'));
  }
});

test('the report keeps what surrounds its generated block', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'podshell-bench-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'RESULTS.md');
  writeReport(file, 'first');
  assert.equal(readFileSync(file, 'utf8'), `# podshell benchmarks\n\n${BEGIN}\nfirst\n${END}\n`);
  const edited = readFileSync(file, 'utf8').replace('# podshell benchmarks', '# podshell benchmarks\n\nnotes above') + '\n## Before and after\n';
  writeFileSync(file, edited);
  writeReport(file, 'second');
  assert.equal(readFileSync(file, 'utf8'), `# podshell benchmarks\n\nnotes above\n\n${BEGIN}\nsecond\n${END}\n\n## Before and after\n`);
});

// The benchmark harness (bench/run.ts) runs once in its tiny mode, so it cannot rot: every row
// runs against a real sandbox and the report is written. Nothing here looks at the numbers.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { BenchReport } from '../bench/model.ts';
import { BEGIN, END, renderReport, writeReport } from '../bench/report.ts';

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
  // The web shell gateway's rows: every measurement made through the gateway and directly.
  assert.deepEqual(
    report.gateway.map((r) => [r.id, r.errors]),
    [
      ['echo', []],
      ['webstream', []],
      ['websessions', []],
    ],
  );
  for (const row of report.gateway) {
    for (const m of row.measures) assert.ok(m.gateway !== null && Number.isFinite(m.gateway), `${row.id} / ${m.name}: measured through the gateway`);
  }
  const echo = report.gateway.find((r) => r.id === 'echo')!;
  for (const n of [1, 3]) for (const via of ['gateway', 'direct']) assert.equal(echo.samples[`${via} ${n}`]?.length, 10, `${via}, ${n} sessions: 10 keystrokes timed`);
  assert.ok(echo.measures.filter((m) => m.name.startsWith('echo p')).every((m) => m.direct !== null && m.compare?.kind === 'added'), 'every echo percentile has its direct counterpart');
  const stream = report.gateway.find((r) => r.id === 'webstream')!;
  assert.equal(stream.measures[0]!.compare?.kind, 'ratio');
  assert.equal(report.gateway.find((r) => r.id === 'websessions')!.measures[0]!.gateway, 5, 'the 5 sessions of the tiny run were held');

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
  assert.match(text, /^### Web shell gateway/m);
  for (const title of ['keystroke echo latency', 'output throughput', 'concurrent sessions held']) assert.match(text, new RegExp(`^\\*\\*${title}:\\*\\*`, 'm'));
  assert.match(text, /^\| echo p99, 3 active sessions \| [\d.]+ ms \| [\d.]+ ms \| [+−][\d.]+ ms added \| added p99 ≤ 5 ms at 200 active sessions: not measured at that size in this run \|$/m);
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

test('the web shell section puts each goal beside its measured value: met, not met, or not measured at that size', () => {
  const report: BenchReport = {
    date: '2026-12-01T00:00:00Z',
    command: 'npm run bench',
    mode: 'full',
    durationSeconds: 1,
    machine: { cpus: 'cpu', cores: 2, memory: '1 GiB', os: 'Linux', node: 'v24', kubectl: 'kubectl v1.33.1', clientNode: '2.0.1', podshell: '0.1.0', podshellCli: 'dist', baseline: null, isolation: 'namespaces', rssMethod: 'time' },
    rows: [],
    ceilings: [],
    gateway: [
      {
        id: 'echo',
        title: 'keystroke echo latency',
        workload: 'w',
        measures: [
          { name: 'echo p99, 200 active sessions', unit: 'ms', gateway: 9.5, direct: 2.25, compare: { kind: 'added', value: 7.25 }, goal: { text: 'added p99 ≤ 5 ms at 200 active sessions', met: false } },
        ],
        notes: [],
        errors: [],
        samples: {},
      },
      {
        id: 'webstream',
        title: 'output throughput',
        workload: 'w',
        measures: [{ name: 'output throughput', unit: 'MiB/s', gateway: 90, direct: 100, compare: { kind: 'ratio', value: 0.9 }, goal: { text: '≥ 80% of direct', met: true } }],
        notes: [],
        errors: ['gateway: the gateway client exited 1'],
        samples: {},
      },
      {
        id: 'websessions',
        title: 'concurrent sessions held',
        workload: 'w',
        measures: [{ name: 'sessions held', unit: 'sessions', gateway: 200, direct: null, goal: { text: '≥ 1000 in one process', met: null } }],
        notes: [],
        errors: [],
        samples: {},
      },
    ],
    load: { start: '3.00 2.00 1.00', end: '4.00 3.00 2.00' },
    failures: [],
  };
  const text = renderReport(report);
  assert.ok(!text.includes('### Metric × contender'), 'no contender table without contender rows');
  assert.match(text, /^- \*\*Load:\*\* load average \(1, 5, 15 min\) 3\.00 2\.00 1\.00 at the start, 4\.00 3\.00 2\.00 at the end, on 2 cores$/m);
  assert.match(text, /^\| echo p99, 200 active sessions \| 9\.50 ms \| 2\.25 ms \| \+7\.25 ms added \| added p99 ≤ 5 ms at 200 active sessions: \*\*not met\*\* \|$/m);
  assert.match(text, /^\| output throughput \| 90\.0 MiB\/s \| 100 MiB\/s \| 0\.90× \(90% of direct\) \| ≥ 80% of direct: \*\*met\*\* \|$/m);
  assert.match(text, /^- \*\*Failed:\*\* gateway: the gateway client exited 1$/m);
  assert.match(text, /^\| sessions held \| 200 \|  \|  \| ≥ 1000 in one process: not measured at that size in this run \|$/m);
});

// The benchmark harness (bench/run.ts) runs once in its tiny mode, so it cannot rot: every row
// runs against a real sandbox and the report is written. Nothing here looks at the numbers.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { goals, type Goal } from '../bench/goals.ts';
import type { BenchReport, ContenderId, RowResult } from '../bench/model.ts';
import { GiB, MiB } from '../bench/options.ts';
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

  const report = JSON.parse(readFileSync(json, 'utf8')) as BenchReport & { goals: Goal[] };
  assert.equal(report.mode, 'tiny');
  assert.deepEqual(report.goals, goals(report), 'the JSON carries the goals as judged');
  assert.deepEqual(
    report.rows.map((r) => r.id),
    ['oneshot', 'rate', 'stdout', 'stdin', 'cp-up-small', 'cp-down-small', 'cp-up-medium', 'cp-down-medium', 'cp-up-large', 'cp-down-large', 'fanin'],
  );
  // Both podshell builds in every transfer row, each sample with its CPU time.
  for (const id of ['stdout', 'stdin', 'cp-up-large', 'cp-down-large']) {
    const row = report.rows.find((r) => r.id === id)!;
    for (const build of ['podshell-cli', 'podshell-src']) {
      const c = row.contenders.find((x) => x.id === build);
      assert.ok(c, `${id}: ${build} runs`);
      for (const sample of c.samples) assert.equal(typeof sample?.cpuSeconds, 'number', `${id} / ${build}: CPU time measured`);
    }
  }
  // Without bufferutil, the CLI does not run a second time without it (and the report says why).
  const nobu = report.rows.filter((r) => r.contenders.some((c) => c.id === 'podshell-cli-nobu')).map((r) => r.id);
  if (/^not installed$|does not load/.test(report.machine.bufferutil ?? '')) assert.deepEqual(nobu, []);
  else assert.deepEqual(nobu, ['stdout', 'stdin', 'cp-up-small', 'cp-down-small', 'cp-up-medium', 'cp-down-medium', 'cp-up-large', 'cp-down-large']);
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
  // The goals come first, each judged only at the sizes (the tiny run moves a few MiB).
  assert.ok(text.indexOf('### Goals') < text.indexOf('### Metric × contender'));
  assert.match(text, /^\| one-shot `exec demo -- true`, wall time: published \(`dist\/`\) \| [\d.]+ ms \| kubectl 1\.33: [\d.]+ ms \| [\d.]+× \| ≤ 1\.25× kubectl's \| \*\*(met|not met)\*\* \|$/m);
  assert.match(text, /^\| cp upload 2 MiB, wall time: checkout \(`bin\/podshell`\) \| [\d.]+ s \| kubectl 1\.33: [\d.]+ s \| [\d.]+× \| ≤ 1\.00× kubectl's \| not measured at that size in this run \(2 MiB\) \|$/m);
  assert.match(text, /^### Memory flat in transfer size$/m);
  for (const title of ['one-shot exec', 'in-process exec rate', 'stdout throughput', 'stdin throughput', 'cp upload one-shot', 'cp download one-shot', 'cp upload 1 MiB', 'cp download 2 MiB', 'fan-in']) {
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

/** A contender row of a synthetic report: one sample per value, with its peak RSS in MiB. */
function row(id: string, extra: Partial<RowResult>, contenders: [ContenderId, number[], number[]][]): RowResult {
  return {
    id,
    title: id,
    workload: 'w',
    unit: 'MiB/s',
    better: 'higher',
    rounds: contenders[0]![1].length,
    notes: [],
    ...extra,
    contenders: contenders.map(([cid, vals, rss]) => ({ id: cid, label: cid === 'kubectl' ? 'kubectl 1.33' : cid, ref: cid === 'podshell-cli' ? null : 'podshell-cli', samples: vals.map((value, i) => ({ value, rssKiB: rss[i]! * 1024, cpuSeconds: 1 })), extra: {}, errors: [] })),
  };
}

test('the goals are computed from the run: per-round ratios to kubectl, flatness against the one-shot peak, sizes checked', () => {
  const report: BenchReport = {
    date: '2026-12-01T00:00:00Z',
    command: 'npm run bench',
    mode: 'full',
    durationSeconds: 1,
    machine: { cpus: 'cpu', cores: 2, memory: '1 GiB', os: 'Linux', node: 'v24', kubectl: 'kubectl v1.33.1', clientNode: '2.0.1', podshell: '0.1.0', podshellCli: 'dist', baseline: null, isolation: 'namespaces', rssMethod: 'time', bufferutil: '4.1.0' },
    rows: [
      row('oneshot', { unit: 'ms', better: 'lower' }, [
        ['podshell-cli', [80, 130, 90], [70, 72, 71]],
        ['podshell-src', [100, 150, 95], [85, 86, 84]],
        ['kubectl', [65, 100, 75], [50, 51, 50]],
      ]),
      row('stdout', { bytes: GiB, kind: 'stdout', oneShotRow: 'oneshot' }, [
        ['podshell-cli', [300, 310], [80, 82]],
        ['podshell-cli-nobu', [250, 310], [80, 82]],
        ['kubectl', [270, 300], [52, 52]],
        ['thin', [700, 650], [90, 90]],
      ]),
      row('cp-up-small', { unit: 'ms', better: 'lower', bytes: 4096, kind: 'cp-up', oneShotRow: 'cp-up-small' }, [
        ['podshell-cli', [200, 210], [73, 73]],
        ['kubectl', [100, 110], [50, 50]],
      ]),
      row('cp-up-large', { bytes: 512 * MiB, kind: 'cp-up', oneShotRow: 'cp-up-small' }, [
        ['podshell-cli', [128, 256], [150, 160]],
        ['kubectl', [256, 256], [51, 51]],
      ]),
    ],
    ceilings: [],
    gateway: [],
    failures: [],
  };
  const byName = new Map(goals(report).map((g) => [g.name, g]));
  const get = (prefix: string) => [...byName.values()].find((g) => g.name.startsWith(prefix))!;
  // 80/65, 130/100, 90/75: the median of the per-round ratios, 1.23, not the ratio of the medians (1.2).
  assert.deepEqual(get('one-shot `exec demo -- true`, wall time: published'), { name: 'one-shot `exec demo -- true`, wall time: published (`dist/`)', podshell: '90.0 ms', against: 'kubectl 1.33: 75.0 ms', ratio: '1.23×', target: "≤ 1.25× kubectl's", met: true });
  const src = get('one-shot `exec demo -- true`, wall time: checkout');
  assert.equal(src.ratio, '1.50×');
  assert.equal(src.met, true);
  assert.equal(get('one-shot `exec demo -- true`, peak RSS: published').met, false, '71 against 50 MiB is 1.42×');
  // stdout: 300/270 and 310/300; the raw client 675 against the fastest contender, podshell CLI 305.
  const stdout = get('exec stdout 1 GiB, throughput: published');
  assert.equal(stdout.met, true);
  assert.equal(get('exec stdout 1 GiB, throughput: checkout').why, 'a contender has no sample in this run');
  const sandbox = get('sandbox stdout');
  assert.equal(sandbox.against, 'podshell-cli: 305 MiB/s');
  assert.equal(sandbox.ratio, '2.21×');
  assert.equal(sandbox.met, true);
  // cp at 512 MiB is shown (4 s and 2 s per copy) but not judged against the 1 GiB goal.
  const cp = get('cp upload 512 MiB, wall time: published');
  assert.equal(cp.podshell, '3.00 s');
  assert.equal(cp.ratio, '1.50×');
  assert.equal(cp.met, null);
  assert.match(cp.why!, /not measured at that size/);
  assert.equal(get('cp upload 100 MiB, wall time: published').why, 'not in this run');
  // Flatness: the worst transfer, cp upload (73 → 155 MiB), not stdout (71 → 81 MiB).
  const flat = get('peak RSS of a 1 GiB transfer');
  assert.match(flat.podshell, /^\+82\.0 MiB \(cp-up-large: 73\.0 → 155 MiB\)$/);
  assert.equal(flat.met, null, 'the cp row is not at 1 GiB');
  // bufferutil: 300/250 and 310/310 on stdout, each round 1 CPU second for 1 GiB.
  assert.deepEqual(get('bufferutil'), { name: 'bufferutil, stdout: the podshell CLI with it ÷ with `WS_NO_BUFFER_UTIL=1`', podshell: '305 MiB/s, 1.00 CPU s/GiB', against: 'without: 280 MiB/s, 1.00 CPU s/GiB', ratio: '1.10×', target: '> 1.00× (keep it if it pays)', met: true });
  const text = renderReport(report);
  assert.match(text, /^\| cp-up-large \| \+82\.0 MiB \(73\.0 → 155\) \| \+1\.00 MiB \(50\.0 → 51\.0\) \|$/m);
  assert.match(text, /^\| stdout, MiB\/s ↑ \| w \| 2 \| 305, 1\.00 CPU s\/GiB \|/m);
});

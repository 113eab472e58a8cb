// `node bench/profile-top.ts FILE.cpuprofile [N]`: where a CPU profile (from `--cpu-prof`, e.g.
// `npm run bench -- --only webstream --profile DIR`) spent its time — the N functions with the most
// self time, and the same summed by file — as a Markdown table.

import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const [file, count = '25'] = process.argv.slice(2);
if (!file) throw new Error('usage: node bench/profile-top.ts FILE.cpuprofile [N]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfUs = new Map<number, number>();
for (let i = 0; i < profile.samples.length; i++) selfUs.set(profile.samples[i]!, (selfUs.get(profile.samples[i]!) ?? 0) + (profile.timeDeltas[i] ?? 0));
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

const root = new URL('..', import.meta.url).href;
/** A file path relative to the repository, or the built-in's name. */
const where = (url: string) => (url.startsWith(root) ? url.slice(root.length) : url) || '(native)';
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const frame = (id: number) => {
  const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
  return `${functionName || '(anonymous)'} ${where(url)}${url ? `:${lineNumber + 1}` : ''}`;
};
/** The nearest JavaScript callers of a frame, innermost first: who made a native call. */
const callers = (id: number, depth: number) => {
  const out: string[] = [];
  for (let p = parent.get(id); p !== undefined && out.length < depth; p = parent.get(p)) {
    if (byId.get(p)!.callFrame.url) out.push(frame(p));
  }
  return out.join(' ← ');
};

const byFunction = new Map<string, number>();
const byFile = new Map<string, number>();
for (const [id, us] of selfUs) {
  const { url } = byId.get(id)!.callFrame;
  // A native frame is named with its JavaScript callers, which say what it was doing.
  const name = url ? frame(id) : `${frame(id)}${parent.has(id) ? ` ← ${callers(id, 3)}` : ''}`;
  byFunction.set(name, (byFunction.get(name) ?? 0) + us);
  byFile.set(where(url), (byFile.get(where(url)) ?? 0) + us);
}

const table = (title: string, rows: Map<string, number>) => {
  const lines = [`| ${title} | self ms | % |`, '|---|---|---|'];
  for (const [name, us] of [...rows].sort((a, b) => b[1] - a[1]).slice(0, Number(count))) {
    lines.push(`| ${name.replace(/\|/g, '\\|')} | ${(us / 1000).toFixed(0)} | ${((100 * us) / total).toFixed(1)} |`);
  }
  return lines.join('\n');
};

process.stdout.write(`${(total / 1000).toFixed(0)} ms sampled over ${((profile.endTime - profile.startTime) / 1000).toFixed(0)} ms\n\n`);
process.stdout.write(`${table('function', byFunction)}\n\n${table('file', byFile)}\n`);

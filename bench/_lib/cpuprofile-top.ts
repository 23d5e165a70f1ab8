// Summarises a V8 .cpuprofile (from `node --cpu-prof`, e.g. `npm run bench -- fanout
// --cpu-prof DIR`): the functions and files with the most self time, and the total time
// under (inclusive) functions whose name matches --focus.
// --per N (e.g. the phase's deliveries) adds a summary per unit: idle, socket writes (the
// writev syscall, which on loopback also carries the receiver's TCP work), GC and JavaScript.
// Usage: node --import tsx bench/_lib/cpuprofile-top.ts FILE.cpuprofile [--top N] [--focus REGEX] [--per N]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' }, focus: { type: 'string' }, per: { type: 'string' } } });
const file = positionals[0];
if (!file) {
  console.error('usage: cpuprofile-top.ts FILE.cpuprofile [--top N] [--focus REGEX]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const top = Number(values.top);

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const total = profile.endTime - profile.startTime;

const short = (url: string): string => url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, 'node_modules/').replace(/^.*\/(src|bench)\//, '$1/');
const label = (n: ProfileNode): string => `${n.callFrame.functionName || '(anonymous)'} ${short(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;

const fnSelf = new Map<string, number>();
const fileSelf = new Map<string, number>();
for (const [id, us] of selfUs) {
  const n = byId.get(id)!;
  fnSelf.set(label(n), (fnSelf.get(label(n)) ?? 0) + us);
  const f = n.callFrame.url ? short(n.callFrame.url) : `(${n.callFrame.functionName})`;
  fileSelf.set(f, (fileSelf.get(f) ?? 0) + us);
}
const pct = (us: number): string => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
const print = (title: string, m: Map<string, number>): void => {
  console.log(`\n${title}`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(us)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`);
};
console.log(`${file}: ${(total / 1000).toFixed(0)} ms profiled`);
if (values.per) {
  const per = Number(values.per);
  const cats = { idle: 0, 'socket writes': 0, gc: 0, 'JS and the rest': 0 };
  for (const [id, us] of selfUs) {
    const f = byId.get(id)!.callFrame.functionName;
    if (f === '(idle)') cats.idle += us;
    else if (f === 'writev' || f === 'writeBuffer' || f === 'writeUtf8String') cats['socket writes'] += us;
    else if (f === '(garbage collector)') cats.gc += us;
    else cats['JS and the rest'] += us;
  }
  console.log(`\nper unit (÷${per}), wall time of the main thread:`);
  for (const [k, us] of Object.entries(cats)) console.log(`${(us / per).toFixed(2).padStart(8)} µs  ${k}`);
}
print('self time by function', fnSelf);
print('self time by file', fileSelf);

if (values.focus) {
  // Inclusive time: a sample counts once for each distinct matching function on its stack.
  const re = new RegExp(values.focus);
  const incl = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const l = label(byId.get(cur)!);
      if (re.test(l)) seen.add(l);
    }
    for (const l of seen) incl.set(l, (incl.get(l) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  print(`inclusive time of functions matching /${values.focus}/`, incl);
}

const { default: init } = await import('@echogarden/espeak-ng-emscripten');
const mod = await init();
const w = new mod.eSpeakNGWorker();
const synth = (t) => { const c = []; w.synthesize(t, (s) => { c.push(s); return false; }); const n = c.reduce((a, x) => a + x.length, 0); const all = new Int16Array(n); let o = 0; for (const x of c) { all.set(x, o); o += x.length; } return all; };
const X = 'Ein weiterer folgt und der Hund ist nicht da.';
const E = 'One sentence here. Another one follows.';
const G = 'Ein Satz hier.';
const runs = {
  'de fresh': () => { w.set_voice('de'); return synth(X); },
  'de after G': () => { w.set_voice('de'); synth(G); return synth(X); },
  'de after G, set_voice again': () => { w.set_voice('de'); synth(G); w.set_voice('de'); return synth(X); },
  'de after E(en)': () => { w.set_voice('en-us'); synth(E); w.set_voice('de'); return synth(X); },
  'de after E(en) x2': () => { w.set_voice('en-us'); synth(E); synth(E + ' more text here'); w.set_voice('de'); return synth(X); },
};
for (let rep = 0; rep < 2; rep++) for (const [k, f] of Object.entries(runs)) {
  const s = f();
  // first 2000 samples energy, and head nonzero
  let head = 0; for (let i = 0; i < 500; i++) head += Math.abs(s[i]);
  console.log(k.padEnd(32), s.length, 'head|x|', head);
}

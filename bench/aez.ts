// `npm run bench -- aez` (or `npx node bench/aez.ts`): AEZ v5 throughput on Sphinx-sized payloads (2,000 bytes,
// tau = 0 as on every mix hop), one-shot with a fresh key per packet as a mix node does, and keyed.
import { Aez, aezDecrypt, aezEncipherInPlace, aezEncrypt } from '../src/crypto/aez/index.ts';
import { randomBytes } from '../src/crypto/random.ts';
import { formatRate, machine, measure, table, writeResult } from './lib.ts';

const PAYLOAD_BYTES = 2000;
const key = randomBytes(48);
const nonce = randomBytes(16);
const payload = randomBytes(PAYLOAD_BYTES);
const cipherText = aezEncrypt(key, nonce, [], 0, payload);
const sealed = aezEncrypt(key, nonce, [], 16, payload);
const keyed = new Aez(key);
const inPlace = cipherText.slice();

const cases: [string, number, () => unknown][] = [
  ['aezEncrypt, 2,000 B, tau 0 (fresh key)', PAYLOAD_BYTES, () => aezEncrypt(key, nonce, [], 0, payload)],
  ['aezDecrypt, 2,000 B, tau 0 (fresh key)', PAYLOAD_BYTES, () => aezDecrypt(key, nonce, [], 0, cipherText)],
  [
    'aezEncrypt + aezDecrypt, 2,000 B, tau 0',
    PAYLOAD_BYTES,
    () => aezDecrypt(key, nonce, [], 0, aezEncrypt(key, nonce, [], 0, payload)),
  ],
  ['Aez.decrypt (keyed), 2,000 B, tau 0', PAYLOAD_BYTES, () => keyed.decrypt(nonce, [], 0, cipherText)],
  [
    'aezEncipherInPlace, decipher, 2,000 B (fresh key, as Sphinx does)',
    PAYLOAD_BYTES,
    () => aezEncipherInPlace(key, nonce, [], inPlace, true),
  ],
  ['aezDecrypt, 2,000 B, tau 16', PAYLOAD_BYTES, () => aezDecrypt(key, nonce, [], 16, sealed)],
  ['aezEncrypt, 1 B, tau 16 (AEZ-tiny)', 1, () => aezEncrypt(key, nonce, [], 16, payload.subarray(0, 1))],
];

// Best of several short runs: the rate the code reaches when the machine is not busy with something else.
const RUNS = 5;
const rows = cases.map(([name, bytes, operation]) => {
  const { opsPerSecond, microsecondsPerOp } = Array.from({ length: RUNS }, () =>
    measure(operation, 400),
  ).reduce((best, run) => (run.opsPerSecond > best.opsPerSecond ? run : best));
  // For the combined row each op moves the payload twice.
  const moved = name.includes(' + ') ? 2 * bytes : bytes;
  return [
    name,
    formatRate(opsPerSecond),
    ((opsPerSecond * moved) / 1e6).toFixed(1),
    microsecondsPerOp.toFixed(2),
  ];
});

writeResult(
  'aez',
  `# AEZ v5 (pure TypeScript, T-table AES rounds)\n\n${machine()}\n\n${table(
    ['operation', 'ops/s', 'MB/s', 'µs/op'],
    rows,
  )}\n\nOne core, one thread, best of ${RUNS} runs of 0.4 s. "Fresh key" includes the key schedule, as on a mix node where every packet has its own key.`,
);

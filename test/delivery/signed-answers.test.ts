// The delivery service's memory of answers to signed requests (src/delivery/signed-answers.ts): an identical
// copy gets the first answer while it is fresh, never after; a different digest is answered afresh; the
// memory stays within its capacity; a request that failed inside the service is not remembered.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SignedAnswers } from '../../src/delivery/signed-answers.ts';

const nonce = (n: number) => Uint8Array.of(n);
const digest = (n: number) => new Uint8Array(32).fill(n);

test('an identical copy gets the first answer until it expires; then it is answered afresh', async () => {
  let now = 1_000;
  const answers = new SignedAnswers<string>(() => now);
  let acted = 0;
  const act = async () => `answer ${++acted}`;
  assert.equal(await answers.answer(nonce(1), digest(1), 2_000, act), 'answer 1');
  assert.equal(await answers.answer(nonce(1), digest(1), 2_000, act), 'answer 1');
  assert.equal(await answers.answer(nonce(1), digest(2), 2_000, act), 'answer 2', 'another digest');
  assert.equal(await answers.answer(nonce(1), digest(1), 2_000, act), 'answer 1', 'not replaced');
  now = 2_000;
  assert.equal(await answers.answer(nonce(1), digest(1), 3_000, act), 'answer 3');
});

test('at capacity the oldest answer is forgotten first', async () => {
  const answers = new SignedAnswers<number>(() => 0, 2);
  let acted = 0;
  const act = async () => ++acted;
  for (const n of [1, 2, 3]) await answers.answer(nonce(n), digest(n), 10, act);
  assert.equal(answers.size, 2);
  assert.equal(await answers.answer(nonce(3), digest(3), 10, act), 3);
  assert.equal(await answers.answer(nonce(1), digest(1), 10, act), 4, 'the first was forgotten');
});

test('a request that threw is not remembered: its copy runs again', async () => {
  const answers = new SignedAnswers<string>(() => 0);
  const failing = answers.answer(nonce(1), digest(1), 10, async () => {
    throw new Error('store down');
  });
  await assert.rejects(failing, /store down/);
  assert.equal(await answers.answer(nonce(1), digest(1), 10, async () => 'ok'), 'ok');
});

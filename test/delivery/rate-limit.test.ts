// The registration limiter's token buckets on a clock the test moves by hand: bursts, refills, the wait a
// refusal names, all-or-nothing takes over several buckets, refunds, and the bounded map of peer buckets.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KeyedBuckets, TokenBucket, takeAll } from '../../src/delivery/rate-limit.ts';
import { ArgumentError } from '../../src/errors.ts';

class FakeClock {
  now = 1_000_000;
  readonly read = (): number => this.now;
}

describe('TokenBucket', () => {
  test('allows a burst, then one action per refill interval, and says how long to wait', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ burst: 3, refillMs: 1000 }, clock.read);
    for (let i = 0; i < 3; i++) assert.deepEqual(bucket.take(), { ok: true });
    assert.deepEqual(bucket.take(), { ok: false, retryAfterMs: 1000 });
    clock.now += 400;
    assert.deepEqual(bucket.take(), { ok: false, retryAfterMs: 600 });
    clock.now += 600;
    assert.deepEqual(bucket.take(), { ok: true });
    assert.deepEqual(bucket.take(), { ok: false, retryAfterMs: 1000 });
    // A long pause refills up to the burst, no further.
    clock.now += 60_000;
    for (let i = 0; i < 3; i++) assert.deepEqual(bucket.take(), { ok: true });
    assert.equal(bucket.take().ok, false);
  });

  test('a refund gives a token back, up to the burst; a clock stepping back adds nothing', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ burst: 1, refillMs: 1000 }, clock.read);
    bucket.refund();
    assert.equal(bucket.tokens, 1);
    bucket.take();
    bucket.refund();
    assert.deepEqual(bucket.take(), { ok: true });
    clock.now -= 10_000;
    assert.equal(bucket.take().ok, false);
    clock.now += 1000;
    assert.deepEqual(bucket.take(), { ok: true });
  });

  test('refuses a rate that is not a positive integer burst and interval', () => {
    const clock = new FakeClock();
    for (const rate of [
      { burst: 0, refillMs: 1 },
      { burst: 1, refillMs: 0 },
      { burst: 1.5, refillMs: 1 },
    ]) {
      assert.throws(() => new TokenBucket(rate, clock.read), ArgumentError);
    }
  });
});

describe('takeAll', () => {
  test('takes from every bucket or from none, naming the longest wait', () => {
    const clock = new FakeClock();
    const connection = new TokenBucket({ burst: 2, refillMs: 5000 }, clock.read);
    const global = new TokenBucket({ burst: 1, refillMs: 1000 }, clock.read);
    assert.deepEqual(takeAll([connection, global]), { ok: true });
    assert.deepEqual(takeAll([connection, global]), { ok: false, retryAfterMs: 1000 });
    assert.equal(connection.tokens, 1, 'the refused take left the connection its token');
    clock.now += 1000;
    assert.deepEqual(takeAll([connection, global]), { ok: true });
    assert.deepEqual(takeAll([connection, global]), { ok: false, retryAfterMs: 4000 });
  });
});

describe('KeyedBuckets', () => {
  test('keeps one bucket per key; at the bound it forgets full buckets, else keys share an overflow', () => {
    const clock = new FakeClock();
    const peers = new KeyedBuckets({ burst: 1, refillMs: 1000 }, clock.read, 2);
    assert.equal(peers.get('a'), peers.get('a'));
    peers.get('a').take();
    peers.get('b').take();
    const overflow = peers.get('c');
    assert.equal(peers.get('d'), overflow, 'new keys share one bucket while none can be forgotten');
    assert.equal(peers.size, 2);
    overflow.take();
    assert.equal(peers.get('e').take().ok, false, 'the overflow bucket gains no fresh tokens');
    clock.now += 1000;
    const fresh = peers.get('c');
    assert.notEqual(fresh, overflow, 'full buckets were forgotten to make room');
    assert.equal(peers.size, 1);
  });
});

// A process to kill in the middle of its posts, for the compliance suite's crash test: it opens its own store
// on the database named in argv[2] (a JSON store location) and keeps 20 posts to the routing ID given in hex
// as argv[3] in flight, printing each answered post as a line of JSON ({ messageId, seq }) the moment its
// answer comes, until it is killed.
import { fromHex, toHex } from '../../../src/bytes.ts';
import { randomBytes } from '../../../src/crypto/random.ts';
import { openStore } from '../../../src/delivery/store/index.ts';
import type { StoreLocation } from '../../../src/delivery/store/types.ts';

const IN_FLIGHT = 20;
const [location, routingIdHex] = process.argv.slice(2);
if (location === undefined || routingIdHex === undefined)
  throw new Error('usage: crash-child.ts <location> <routingId>');
const store = await openStore({
  ...(JSON.parse(location) as StoreLocation),
  limits: { maxItemsPerStream: 1_000_000, maxBytesPerStream: 1_000_000_000 },
});
const routingId = fromHex(routingIdHex);

async function poster(): Promise<never> {
  for (;;) {
    const messageId = randomBytes(16);
    const result = await store.postToLog(routingId, {
      kind: 'application',
      messageId,
      blob: randomBytes(256),
      bucket: 0,
    });
    if (!result.ok || result.status !== 'stored') throw new Error(`post refused: ${JSON.stringify(result)}`);
    process.stdout.write(`${JSON.stringify({ messageId: toHex(messageId), seq: result.seq })}\n`);
  }
}

await Promise.all(Array.from({ length: IN_FLIGHT }, poster));

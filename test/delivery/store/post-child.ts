// A second process for the scale-out test: it opens its own store on the database named in argv[2] (a JSON
// store location), posts one application message to the routing ID given in hex as argv[3], prints the
// result as JSON and exits.
import { fromHex } from '../../../src/bytes.ts';
import { randomBytes } from '../../../src/crypto/random.ts';
import { openStore } from '../../../src/delivery/store/index.ts';
import type { StoreLocation } from '../../../src/delivery/store/types.ts';

const [location, routingId] = process.argv.slice(2);
if (location === undefined || routingId === undefined)
  throw new Error('usage: post-child.ts <location> <routingId>');
const store = await openStore(JSON.parse(location) as StoreLocation);
try {
  const result = await store.postToLog(fromHex(routingId), {
    kind: 'application',
    messageId: randomBytes(16),
    blob: randomBytes(64),
    bucket: 0,
  });
  process.stdout.write(JSON.stringify(result));
} finally {
  await store.close();
}

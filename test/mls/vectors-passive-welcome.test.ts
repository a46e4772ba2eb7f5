// IETF passive-client-welcome vectors through the facade (see passive-client.ts). The generator stamped
// these KeyPackages with one-year lifetimes starting in March 2023; the clock is pinned inside them.
import { passiveClientSuite } from './passive-client.ts';

passiveClientSuite('passive-client-welcome.json', new Date('2023-07-22T00:00:00Z'));

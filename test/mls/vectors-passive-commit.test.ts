// IETF passive-client-handling-commit vectors through the facade (see passive-client.ts). The KeyPackages
// added in these epochs carry one-year lifetimes starting in March 2024; the clock is pinned inside them.
import { passiveClientSuite } from './passive-client.ts';

passiveClientSuite('passive-client-handling-commit.json', new Date('2024-07-03T00:00:00Z'));

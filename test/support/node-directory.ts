// A development-mode directory for node processes under test (`umbra mix`, `umbra gateway`): the default
// Sphinx geometry, 3 layers, 200 ms rounds, B = 4; and the flags that point a node at it.
import { formatAuthorityPublicKeys } from '../../src/directory/authority-keys.ts';
import { type DirectoryHandle, startDirectory } from '../../src/directory/server.ts';
import { Geometry } from '../../src/sphinx/index.ts';

export const NODE_GEOMETRY = Geometry.create({
  scheme: 'x25519',
  userForwardPayloadLength: 2000,
  withSurb: true,
  nrHops: 5,
});

export function startNodeDirectory(dataDir: string): Promise<DirectoryHandle> {
  return startDirectory({
    dataDir,
    devMode: true,
    geometry: NODE_GEOMETRY,
    parameters: {
      layers: 3,
      roundPeriodMs: 200,
      batchSize: 4,
      clientSendRate: 2,
      loopCoverShare: 0.5,
      keyGracePeriodMs: 60_000,
    },
  });
}

/** --data-dir, --directory-url and --authority-keys for a node following `directory`. */
export function nodeFlags(directory: DirectoryHandle, dataDir: string): string[] {
  const keys = formatAuthorityPublicKeys(directory.publicKeys);
  return [`--data-dir=${dataDir}`, `--directory-url=${directory.url}`, `--authority-keys=${keys}`];
}
